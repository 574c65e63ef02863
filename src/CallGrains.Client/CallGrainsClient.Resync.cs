using System.Diagnostics;
using System.Text.Json;
using CallGrains.Client.Internal;

namespace CallGrains.Client;

/// <summary>Resync: a snapshot (<c>welcome</c> or <c>sync</c>) replaces the view, and what it shows was missed is raised.</summary>
public sealed partial class CallGrainsClient
{
    /// <summary>A resync whose snapshot is older than the events it must cover is asked for again, at most this many times.</summary>
    private const int SyncAttempts = 5;

    private bool _syncRunning;

    /// <summary>A <c>sync</c> answer: applied unless an event newer than it has been applied meanwhile (it would be stale).</summary>
    private void ApplySyncResponse(JsonElement message, long seq)
    {
        if (message.TryGetProperty("ok", out var ok) && ok.ValueKind == JsonValueKind.True && seq >= _seq)
        {
            ApplySnapshot(message, seq, raise: true);
        }
    }

    /// <summary>True while events were set aside after a gap, or a response showed one, and no snapshot has covered them yet. Under the lock.</summary>
    private bool GapOpen => _gapSeq > _seq;

    /// <summary>Replaces the view by a snapshot (<c>welcome</c> or <c>sync</c>); with <paramref name="raise"/>, raises what it shows was missed. Under the lock.</summary>
    private void ApplySnapshot(JsonElement snapshot, long seq, bool raise)
    {
        var now = new CallView(WireFormat.OptionalCall(snapshot, "activeCall"), [.. WireFormat.Calls(snapshot, "ringing")]);
        var old = _view;
        _view = now;
        _seq = seq;
        if (_gapSeq <= seq)
        {
            _gapSeq = -1;
        }

        if (!raise)
        {
            return;
        }

        foreach (var missed in CallView.Diff(old, now, Uid, _busySessions.Keys.ToHashSet(), _initiating > 0))
        {
            RaiseInferred(missed, seq);
        }
    }

    private void StartSync()
    {
        lock (_gate)
        {
            if (_syncRunning || _disposed)
            {
                return;
            }

            _syncRunning = true;
        }

        Transport.ResyncStarted();
        _ = Task.Run(
            async () =>
            {
                var attempt = 0;
                while (true)
                {
                    try
                    {
                        await SyncCoreAsync(CancellationToken.None).ConfigureAwait(false);
                    }
                    catch (CallGrainsException ex)
                    {
                        // Not connected any more: the welcome of the next connection carries the same snapshot.
                        Trace.TraceInformation($"CallGrains.Client: resync failed: {ex.Message}");
                        attempt = SyncAttempts;
                    }

                    lock (_gate)
                    {
                        // Events set aside while this sync was on its way, newer than its snapshot: once more. The
                        // check and the flag change under one lock, so a gap found now starts a sync of its own.
                        if (!GapOpen || ++attempt >= SyncAttempts || _disposed)
                        {
                            _syncRunning = false;
                            return;
                        }
                    }
                }
            },
            CancellationToken.None);
    }

    private async Task SyncCoreAsync(CancellationToken cancellationToken) =>
        await RequestAsync("sync", null, [], cancellationToken).ConfigureAwait(false);

    /// <summary>Raises a missed event; for a call that left the view, first asks the server how it settled, to tell why.</summary>
    private void RaiseInferred(Inferred missed, long seq)
    {
        var args = new CallEventArgs(missed.Call, seq, isResync: true);
        switch (missed.Kind)
        {
            case InferredKind.IncomingCallReceived:
                Raise("incomingCallReceived", args, null, null);
                break;
            case InferredKind.OutgoingCallAccepted:
                Raise("outgoingCallAccepted", args, null, null);
                break;
            case InferredKind.UserJoined:
                Raise("userJoined", args, null, missed.User);
                break;
            case InferredKind.UserLeft:
                Raise("userLeft", args, null, missed.User);
                break;
            case InferredKind.IncomingCallCanceled when !missed.NeedsFinalState:
                Raise("incomingCallCanceled", args, missed.Reason, null);
                break;
            default:
                var uid = Uid;
                _events.Post(async () =>
                {
                    var final = await FinalStateAsync(missed.Call).ConfigureAwait(false);
                    var settled = new CallEventArgs(final ?? missed.Call, seq, isResync: true);
                    if (missed.Kind == InferredKind.IncomingCallCanceled)
                    {
                        var reason = final is null ? CancelReason.Unknown : CallView.ReasonFromFinal(final, uid);
                        IncomingCallCanceled?.Invoke(this, new CallCanceledEventArgs(settled.Call, seq, isResync: true, reason));
                    }
                    else if (final is not null && CallView.WasRejectedOutgoing(missed.Call, final, uid))
                    {
                        OutgoingCallRejected?.Invoke(this, settled);
                    }
                    else
                    {
                        CallEndedMessageReceived?.Invoke(this, settled);
                    }
                });
                break;
        }
    }

    /// <summary>The call as the server has it now, or null if it cannot say (the call expired, the server is unreachable).</summary>
    private async Task<CallInfo?> FinalStateAsync(CallInfo call)
    {
        try
        {
            using var limit = CancellationTokenSource.CreateLinkedTokenSource(_lifetime.Token);
            limit.CancelAfter(_options.RequestTimeout);
            return await GetCallAsync(call.SessionId, limit.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is CallGrainsException or OperationCanceledException or ObjectDisposedException)
        {
            return null;
        }
    }
}
