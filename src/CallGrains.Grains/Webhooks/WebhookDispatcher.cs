using System.Buffers;
using System.Collections.Immutable;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using CallGrains.Abstractions;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace CallGrains.Grains.Webhooks;

/// <summary>
/// Hands the events calls owe (<see cref="WebhookDue"/>) to the queues of the endpoints that want them, one per silo,
/// off the calling path: a session gives its stored events here and goes on; each call's events are handed on in
/// order; when every endpoint's queue has them, the session is told and forgets them. The endpoint list is read from the
/// registry at most every <see cref="RefreshInterval"/>.
/// </summary>
public sealed partial class WebhookDispatcher(IGrainFactory grains, IServiceProvider services, TimeProvider time, ILogger<WebhookDispatcher> logger)
    : ILifecycleParticipant<ISiloLifecycle>, IWebhookEndpointCache
{
    /// <summary>How stale the endpoint list may be: a new endpoint gets events from transitions this long after it was made.</summary>
    public static readonly TimeSpan RefreshInterval = TimeSpan.FromSeconds(2);

    /// <summary>Events queued or in flight on this silo at most; past it sessions keep theirs and hand them again.</summary>
    public const int MaxQueued = 20_000;

    private readonly Lock _gate = new();
    private readonly Dictionary<string, Lane> _lanes = [];
    private int _queued;
    private ImmutableArray<WebhookEndpoint>? _endpoints;
    private DateTimeOffset _readAt;
    private long _reads;
    private long _applied;
    private Task? _refreshing;
    private IWireText? _wire;

    /// <summary>
    /// Whether calls owe events: some endpoint exists, or the list in hand is older than <see cref="RefreshInterval"/>
    /// or not read yet (an endpoint made since may want this transition's events: they are stored, and handing them on
    /// reads the list afresh). Reading it never waits: a stale list starts a refresh in the background.
    /// </summary>
    public bool Enabled
    {
        get
        {
            // Kept fresh by the silo's refresh loop (every RefreshInterval); with no endpoint nothing of this runs.
            RefreshIfStale();
            return _endpoints is not { } list || !list.IsEmpty;
        }
    }

    /// <summary>Takes a call's events to hand on, in order after the ones taken before; an event already here is not taken twice. False when full.</summary>
    public bool Dispatch(string sessionId, ImmutableArray<WebhookDue> dues)
    {
        lock (_gate)
        {
            if (!_lanes.TryGetValue(sessionId, out var lane))
            {
                _lanes[sessionId] = lane = new Lane();
            }
            else if (lane.Broken)
            {
                // A hand-on of this call failed: nothing of the call goes ahead of it. The session still owes it all
                // and hands it again, in order, once what was queued before the failure has drained.
                return true;
            }

            var fresh = dues.Where(d => lane.Ids.Add(d.Id)).ToImmutableArray();
            if (fresh.IsEmpty)
            {
                return true;
            }

            if (_queued + fresh.Length > MaxQueued)
            {
                lane.Ids.ExceptWith(fresh.Select(d => d.Id));
                return false;
            }

            _queued += fresh.Length;
            lane.Tail = lane.Tail.ContinueWith(_ => HandOnAsync(sessionId, fresh, lane), CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default).Unwrap();
            return true;
        }
    }

    /// <summary>
    /// Reads the endpoint list once as the silo becomes active (10 s at most), so a silo that just started knows whether
    /// calls owe events instead of storing them all until it has read it.
    /// </summary>
    public void Participate(ISiloLifecycle lifecycle) =>
        lifecycle.Subscribe(nameof(WebhookDispatcher), ServiceLifecycleStage.Active, async ct =>
        {
            try
            {
                await EndpointsAsync().WaitAsync(TimeSpan.FromSeconds(10), ct);
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !ct.IsCancellationRequested)
            {
                LogRefreshFailed(ex);
            }

            // Then every RefreshInterval in the background, so the list in hand is never much older than that.
            _ = Task.Run(async () =>
            {
                using var timer = new PeriodicTimer(RefreshInterval, time);
                while (await timer.WaitForNextTickAsync())
                {
                    RefreshIfStale();
                }
            }, CancellationToken.None);
        });

    /// <summary>The <c>webhook-id</c> of an event at one endpoint: the same on every attempt and after any crash.</summary>
    public static string WebhookId(string endpointId, string dueId) =>
        "msg_" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes($"{endpointId}\n{dueId}")))[..32];

    /// <summary>The body as PROTOCOL section 11 writes it: <c>{"type","timestamp","data":{"call","user"}}</c>.</summary>
    public static string Body(WebhookDue due, IWireText wire)
    {
        var buffer = new ArrayBufferWriter<byte>(1024);
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("type", due.Type);
            json.WriteNumber("timestamp", due.At.ToUnixTimeSeconds());
            json.WriteStartObject("data");
            json.WritePropertyName("call");
            json.WriteRawValue(wire.CallJson(due.Call), skipInputValidation: true);
            if (due.User is { } user)
            {
                json.WriteStartObject("user");
                json.WriteString("uid", user.Uid);
                if (user.Name.Length > 0)
                {
                    json.WriteString("name", user.Name);
                }

                json.WriteEndObject();
            }
            else
            {
                json.WriteNull("user");
            }

            json.WriteEndObject();
            json.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    private async Task HandOnAsync(string sessionId, ImmutableArray<WebhookDue> dues, Lane lane)
    {
        try
        {
            if (lane.Broken)
            {
                // Queued behind a hand-on that failed: its events would reach the endpoints before the failed ones.
                return;
            }

            var endpoints = (await EndpointsAsync()).Where(e => dues.Any(d => e.Wants(d.Type))).ToList();
            var bodies = endpoints.Count == 0 ? [] : dues.ToDictionary(d => d.Id, d => Body(d, _wire ??= services.GetRequiredService<IWireText>()));
            await Task.WhenAll(endpoints.Select(async endpoint =>
            {
                var messages = dues.Where(d => endpoint.Wants(d.Type))
                    .Select(d => new WebhookMessage(WebhookId(endpoint.Id, d.Id), d.Type, sessionId, d.At, bodies[d.Id]))
                    .ToImmutableArray();
                if (!messages.IsEmpty)
                {
                    await grains.GetGrain<IWebhookDeliveryGrain>(endpoint.Id).Enqueue(messages);
                }
            }));
            await grains.GetGrain<ICallSessionGrain>(sessionId).WebhooksDone([.. dues.Select(d => d.Id)]);
        }
        catch (Exception ex)
        {
            // Not done: the session keeps the events and hands them again on its next delivery or wake-up. The
            // batches queued behind these are dropped too, so a later event never reaches an endpoint first (the
            // endpoint holding its queue was on a silo that died, and the next batch found its new activation).
            LogHandOnFailed(ex, sessionId, dues.Length);
            lock (_gate)
            {
                lane.Broken = true;
            }
        }
        finally
        {
            lock (_gate)
            {
                // Done, the session forgot them; not done, it hands them again. A lane with nothing left goes.
                _queued -= dues.Length;
                lane.Ids.ExceptWith(dues.Select(d => d.Id));
                if (lane.Ids.Count == 0 && _lanes.TryGetValue(sessionId, out var current) && current == lane)
                {
                    _lanes.Remove(sessionId);
                }
            }
        }
    }

    /// <inheritdoc/>
    public Task RefreshAsync() => EndpointsAsync(force: true);

    private async Task<ImmutableArray<WebhookEndpoint>> EndpointsAsync(bool force = false)
    {
        if (!force && _endpoints is { } list && time.GetUtcNow() - _readAt < RefreshInterval)
        {
            return list;
        }

        // A read started later wins: a slow background read never puts back a list older than a forced one.
        var started = Interlocked.Increment(ref _reads);
        var fresh = await grains.GetGrain<IWebhookRegistryGrain>(IWebhookRegistryGrain.Key).List();
        lock (_gate)
        {
            if (started > _applied)
            {
                (_endpoints, _readAt, _applied) = (fresh, time.GetUtcNow(), started);
            }
        }

        return fresh;
    }

    /// <summary>Starts a refresh of a list older than <see cref="RefreshInterval"/> (one at a time); true when it was that old.</summary>
    private bool RefreshIfStale()
    {
        if (_endpoints is not null && time.GetUtcNow() - _readAt < RefreshInterval)
        {
            return false;
        }

        if (_refreshing is null or { IsCompleted: true })
        {
            _refreshing = Task.Run(async () =>
            {
                try
                {
                    await EndpointsAsync();
                }
                catch (Exception ex)
                {
                    LogRefreshFailed(ex);
                }
            });
        }

        return true;
    }

    [LoggerMessage(2311, LogLevel.Warning, "Call {SessionId}: handing {Count} webhook events to their endpoints failed; the call hands them again")]
    private partial void LogHandOnFailed(Exception exception, string sessionId, int count);

    [LoggerMessage(2312, LogLevel.Warning, "Reading the webhook endpoints failed; the list in hand is kept")]
    private partial void LogRefreshFailed(Exception exception);

    /// <summary>One call's events: handed on one batch after another.</summary>
    private sealed class Lane
    {
        public Task Tail { get; set; } = Task.CompletedTask;

        public HashSet<string> Ids { get; } = [];

        /// <summary>A hand-on failed: what was queued behind it is dropped, and the lane goes once drained.</summary>
        public bool Broken { get; set; }
    }
}
