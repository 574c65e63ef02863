using System.Collections.Immutable;
using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using CallGrains.Abstractions;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace CallGrains.Grains.Push;

/// <summary>
/// Sends the pushes calls owe (<see cref="PushDue"/>), one per silo, off the ringing path: a session hands its owed
/// pushes here after its updates reached the users and goes on; this asks each user grain where to push at send time
/// (so a ring that ended is never pushed), sends through the provider of each token's platform with retries, removes
/// tokens the provider says are gone, and tells the session when a due is done. A session whose silo dies keeps its
/// owed pushes stored and hands them to another silo's dispatcher when the wake-up index brings it back; a push that
/// may have been sent goes again with the same id (at least once).
/// </summary>
public sealed partial class PushDispatcher : IDisposable
{
    /// <summary>Dues queued or in flight on this silo at most; past it a session keeps its dues and hands them again later.</summary>
    public const int MaxQueued = 10_000;

    /// <summary>Requests to providers in flight at once on this silo (each provider multiplexes them over HTTP/2).</summary>
    public const int MaxConcurrentSends = 256;

    // Asking the user grain or reporting to the session: tries, a second apart and doubling, before the session's own
    // redelivery hands the due again.
    private const int MaxGrainAttempts = 3;

    private readonly IGrainFactory _grains;
    private readonly IServiceProvider _services;
    private readonly PushMetrics _metrics;
    private readonly TimeProvider _time;
    private readonly ILogger<PushDispatcher> _logger;
    private readonly PushRetry _retry;
    private readonly Dictionary<PushPlatform, IPushProvider> _providers = [];
    private readonly Dictionary<(string SessionId, string Uid), Lane> _lanes = [];
    private readonly SemaphoreSlim _sends = new(MaxConcurrentSends);
    private readonly CancellationTokenSource _stopping = new();
    private readonly Lock _gate = new();
    private int _queued;
    private IWireText? _wire;

    public PushDispatcher(
        IGrainFactory grains,
        IEnumerable<IPushProvider> providers,
        IServiceProvider services,
        PushMetrics metrics,
        TimeProvider time,
        ILogger<PushDispatcher> logger)
    {
        (_grains, _services, _metrics, _time, _logger) = (grains, services, metrics, time, logger);
        _retry = new PushRetry(time);
        foreach (var provider in providers)
        {
            foreach (var platform in provider.Platforms)
            {
                _providers[platform] = provider;
            }
        }
    }

    /// <summary>Whether any provider is configured; with none, calls owe no pushes and nothing here runs.</summary>
    public bool Enabled => _providers.Count > 0;

    /// <summary>Dues queued or in flight now.</summary>
    public int Queued
    {
        get
        {
            lock (_gate)
            {
                return _queued;
            }
        }
    }

    /// <summary>
    /// Takes a due of <paramref name="sessionId"/> (as <paramref name="call"/> stands now) to send. One user's dues of a
    /// call run in order (a cancel after its ring); a due already here is not taken twice. False when this silo has
    /// <see cref="MaxQueued"/> dues: the session keeps it and hands it again.
    /// </summary>
    public bool Dispatch(string sessionId, CallInfo call, PushDue due)
    {
        lock (_gate)
        {
            var key = (sessionId, due.Uid);
            if (_lanes.TryGetValue(key, out var lane) && lane.Kinds.Contains((due.Kind, due.DeviceId)))
            {
                return true;
            }

            if (_queued >= MaxQueued)
            {
                return false;
            }

            if (lane is null)
            {
                _lanes[key] = lane = new Lane();
            }

            lane.Kinds.Add((due.Kind, due.DeviceId));
            _queued++;
            lane.Tail = lane.Tail.ContinueWith(
                _ => RunAsync(sessionId, call, due, lane),
                CancellationToken.None,
                TaskContinuationOptions.None,
                TaskScheduler.Default).Unwrap();
            return true;
        }
    }

    /// <summary>
    /// The ring of <paramref name="sessionId"/> ended for <paramref name="uid"/>: a ring push of it waiting here, or
    /// waiting to retry, is not sent (one on the wire now is let finish; its cancel follows it).
    /// </summary>
    public void StopRing(string sessionId, string uid)
    {
        lock (_gate)
        {
            if (_lanes.TryGetValue((sessionId, uid), out var lane))
            {
                lane.RingEnded.Cancel();
            }
        }
    }

    /// <summary>The id of a push, the same however often it is sent: a UUID from (sessionId, deviceId, kind) (PROTOCOL section 10).</summary>
    public static Guid PushId(string sessionId, string deviceId, PushKind kind)
    {
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes($"{sessionId}\n{deviceId}\n{kind}"));
        // RFC 9562 layout: version 8 (custom) in the high nibble of byte 6, variant 10 in the top bits of byte 8.
        hash[6] = (byte)((hash[6] & 0x0F) | 0x80);
        hash[8] = (byte)((hash[8] & 0x3F) | 0x80);
        return new Guid(hash.AsSpan(0, 16), bigEndian: true);
    }

    /// <summary>Stops waits and retries (the silo is stopping); sends still running finish with what they hold.</summary>
    public void Dispose() => _stopping.Cancel();

    private async Task RunAsync(string sessionId, CallInfo call, PushDue due, Lane lane)
    {
        try
        {
            if (await TargetsAsync(sessionId, due, lane) is not { } targets)
            {
                // The user could not be asked: not done; the session hands the due again on its next delivery.
                return;
            }

            if (!targets.IsEmpty)
            {
                var sent = Stopwatch.StartNew();
                var payload = PayloadFor(call, due);
                await Task.WhenAll(targets.Select(t => SendAsync(sessionId, due, lane, payload, t)));
                LogDueSent(sessionId, due.Kind, targets.Length, sent.ElapsedMilliseconds);
            }

            await ReportAsync(sessionId, due);
        }
        catch (Exception ex)
        {
            LogDueFailed(ex, sessionId, due.Kind);
        }
        finally
        {
            lock (_gate)
            {
                _queued--;
                lane.Kinds.Remove((due.Kind, due.DeviceId));
                if (lane.Kinds.Count == 0 && _lanes.TryGetValue((sessionId, due.Uid), out var current) && current == lane)
                {
                    _lanes.Remove((sessionId, due.Uid));
                    lane.RingEnded.Dispose();
                }
            }
        }
    }

    /// <summary>Where the due goes, as the user grain says now; null when it could not be asked.</summary>
    private async Task<ImmutableArray<PushToken>?> TargetsAsync(string sessionId, PushDue due, Lane lane)
    {
        if (_time.GetUtcNow() >= due.ExpiresAt || (due.Kind == PushKind.Ring && lane.RingEnded.IsCancellationRequested))
        {
            return [];
        }

        var user = _grains.GetGrain<IUserSlotGrain>(due.Uid);
        var (asked, targets) = await WithRetriesAsync(() => due.Kind switch
        {
            PushKind.Ring => user.RingPushTargets(sessionId, due.DeviceId),
            PushKind.Cancel => user.CancelPushTargets(sessionId, due.ExceptDeviceId),
            _ => user.MissedPushTargets(),
        });
        return asked ? targets : null;
    }

    private async Task ReportAsync(string sessionId, PushDue due) =>
        await WithRetriesAsync(async () =>
        {
            await _grains.GetGrain<ICallSessionGrain>(sessionId).PushesDone(due.Uid, due.Kind, due.DeviceId);
            return true;
        });

    private async Task<(bool Ok, T Value)> WithRetriesAsync<T>(Func<Task<T>> call)
    {
        var delay = TimeSpan.FromSeconds(1);
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return (true, await call());
            }
            catch (Exception ex) when (ex is not ArgumentException && !_stopping.IsCancellationRequested)
            {
                if (attempt == MaxGrainAttempts)
                {
                    LogGrainCallFailed(ex, attempt);
                    return (false, default!);
                }

                await Task.Delay(delay, _time, _stopping.Token);
                delay *= 2;
            }
        }
    }

    private async Task SendAsync(string sessionId, PushDue due, Lane lane, Payload payload, PushToken target)
    {
        if (!_providers.TryGetValue(target.Platform, out var provider))
        {
            // A token of a platform this deployment has no provider for (FCM not configured, say).
            return;
        }

        var message = new PushMessage
        {
            PushId = PushId(sessionId, target.DeviceId, due.Kind),
            Platform = target.Platform,
            DeviceToken = target.Token,
            Kind = due.Kind,
            Event = payload.Event,
            SessionId = sessionId,
            CallJson = payload.CallJson,
            CompactCallJson = payload.CompactCallJson,
            Reason = payload.Reason,
            AlertTitle = due.Kind == PushKind.Missed || target.Platform == PushPlatform.Apns ? payload.AlertTitle : null,
            AlertBody = due.Kind == PushKind.Ring && target.Platform == PushPlatform.Apns ? payload.AlertBody : null,
            ExpiresAt = due.ExpiresAt,
        };
        var ring = due.Kind == PushKind.Ring;
        var stop = ring ? lane.RingEnded.Token : CancellationToken.None;
        Func<Task<bool>>? stillRinging = ring ? () => _grains.GetGrain<IUserSlotGrain>(due.Uid).StillRinging(sessionId) : null;
        var (result, attempts) = await _retry.SendAsync(new Throttled(provider, _sends, stop), message, stillRinging, stop, _stopping.Token);
        var hash = PushLog.TokenHash(target.Token);
        switch (result.Outcome)
        {
            case PushOutcome.Sent:
                LogSent(sessionId, due.Kind, provider.Name, hash, attempts);
                break;
            case PushOutcome.TokenGone:
                var (_, removed) = await WithRetriesAsync(() => _grains.GetGrain<IUserGrain>(due.Uid).RemovePushToken(target.DeviceId, target.Platform, target.Token));
                if (removed)
                {
                    _metrics.TokenRemoved(provider.Name, result.Reason);
                }

                LogTokenGone(sessionId, provider.Name, hash, result.Reason, removed);
                break;
            default:
                LogNotSent(sessionId, due.Kind, provider.Name, hash, result.Reason, result.StatusCode, attempts);
                break;
        }
    }

    private Payload PayloadFor(CallInfo call, PushDue due)
    {
        var wire = _wire ??= _services.GetRequiredService<IWireText>();
        var type = call.CallType == CallType.Video ? "video" : "audio";
        var (json, compact) = (wire.CallJson(call), wire.CompactCallJson(call));
        return due.Kind switch
        {
            PushKind.Ring => new Payload("incomingCallReceived", json, compact, null, $"Incoming {type} call", $"from {call.Initiator.Name}"),
            PushKind.Cancel => new Payload("incomingCallCanceled", json, compact, due.Reason is { } r ? wire.Name(r) : null, null, null),
            _ => new Payload("callMissed", json, compact, null, $"Missed {type} call from {call.Initiator.Name}", null),
        };
    }

    [LoggerMessage(2201, LogLevel.Debug, "Call {SessionId}: {Kind} push sent through {Provider} to token {TokenHash} after {Attempts} attempts")]
    private partial void LogSent(string sessionId, PushKind kind, string provider, string tokenHash, int attempts);

    [LoggerMessage(2202, LogLevel.Warning, "Call {SessionId}: {Kind} push through {Provider} to token {TokenHash} not sent ({Reason}, status {Status}) after {Attempts} attempts")]
    private partial void LogNotSent(string sessionId, PushKind kind, string provider, string tokenHash, string? reason, int? status, int attempts);

    [LoggerMessage(2203, LogLevel.Information, "Call {SessionId}: {Provider} says token {TokenHash} is gone ({Reason}); removed: {Removed}")]
    private partial void LogTokenGone(string sessionId, string provider, string tokenHash, string? reason, bool removed);

    [LoggerMessage(2204, LogLevel.Debug, "Call {SessionId}: {Kind} pushes to {Targets} devices done in {Milliseconds} ms")]
    private partial void LogDueSent(string sessionId, PushKind kind, int targets, long milliseconds);

    [LoggerMessage(2205, LogLevel.Warning, "Call {SessionId}: {Kind} pushes failed; the call hands them again")]
    private partial void LogDueFailed(Exception exception, string sessionId, PushKind kind);

    [LoggerMessage(2206, LogLevel.Warning, "A grain call for pushes failed {Attempts} times; the call hands its pushes again later")]
    private partial void LogGrainCallFailed(Exception exception, int attempts);

    /// <summary>One user's dues of one call: run one after another; a ring's retries stop when its ring ends.</summary>
    private sealed class Lane
    {
        public Task Tail { get; set; } = Task.CompletedTask;

        public HashSet<(PushKind Kind, string? DeviceId)> Kinds { get; } = [];

        public CancellationTokenSource RingEnded { get; } = new();
    }

    private sealed record Payload(string Event, string CallJson, string CompactCallJson, string? Reason, string? AlertTitle, string? AlertBody);

    /// <summary>A provider whose attempts wait for one of the silo's send slots; a push stopped meanwhile (its ring ended) is not sent.</summary>
    private sealed class Throttled(IPushProvider inner, SemaphoreSlim slots, CancellationToken stop) : IPushProvider
    {
        public IReadOnlyCollection<PushPlatform> Platforms => inner.Platforms;

        public string Name => inner.Name;

        public async Task<PushResult> SendOnceAsync(PushMessage message, CancellationToken cancellationToken)
        {
            using var wait = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, stop);
            try
            {
                await slots.WaitAsync(wait.Token);
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
            {
                return new PushResult(PushOutcome.Failed, Reason: "Stopped");
            }

            if (stop.IsCancellationRequested)
            {
                slots.Release();
                return new PushResult(PushOutcome.Failed, Reason: "Stopped");
            }

            try
            {
                return await inner.SendOnceAsync(message, cancellationToken);
            }
            finally
            {
                slots.Release();
            }
        }
    }
}
