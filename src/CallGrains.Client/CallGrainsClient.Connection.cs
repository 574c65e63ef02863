using System.Diagnostics;
using System.Text.Json;
using CallGrains.Client.Internal;

namespace CallGrains.Client;

/// <summary>The connection's life: opening, reading, reconnecting, and keeping the view right through all of it.</summary>
public sealed partial class CallGrainsClient
{
    /// <summary>A connection that stayed up this long was healthy: the next drop starts the back-off afresh.</summary>
    private static readonly TimeSpan StableConnection = TimeSpan.FromSeconds(10);

    /// <summary>A resync whose snapshot is older than the events it must cover is asked for again, at most this many times.</summary>
    private const int SyncAttempts = 5;

    /// <summary>Requests whose response can never carry events of this device's own making: any seq they move is a gap.</summary>
    private static readonly HashSet<string> QuietOps = ["signal", "ping", "generateToken"];

    private Task? _runner;
    private int _connectAttempts;
    private int _syncsStarted;
    private int _dropEvents;
    private int _eventsDropped;
    private bool _syncRunning;

    // The highest seq of an event set aside because events before it were missing; while it is above _seq, a resync is due.
    private long _gapSeq = -1;

    /// <summary>For tests: how many times the client has tried to open a connection.</summary>
    internal int ConnectAttempts => Volatile.Read(ref _connectAttempts);

    /// <summary>For tests: how many resyncs a seq gap (or a response jumping ahead) has started.</summary>
    internal int SyncsStarted => Volatile.Read(ref _syncsStarted);

    /// <summary>For tests: the next <paramref name="count"/> numbered events are dropped as if lost on the way.</summary>
    internal void DropNextEvents(int count)
    {
        lock (_gate)
        {
            _dropEvents += count;
        }
    }

    /// <summary>For tests: how many events <see cref="DropNextEvents"/> has dropped so far.</summary>
    internal int EventsDropped => Volatile.Read(ref _eventsDropped);

    /// <summary>For tests: handles a message as if the server had sent it (a repeated event, say).</summary>
    internal void HandleForTest(string json)
    {
        using var doc = JsonDocument.Parse(json);
        Handle(doc.RootElement.Clone());
    }

    /// <summary>For tests: drops the socket without a close handshake, as a device losing its network would.</summary>
    internal void AbortConnection()
    {
        lock (_gate)
        {
            _link?.Abort();
        }
    }

    /// <summary>Opens a socket and takes its <c>welcome</c>: the view it carries replaces the client's (raising what was missed, on a reconnect).</summary>
    private async Task<Link> OpenAsync(bool reconnect, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _connectAttempts);
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _lifetime.Token);
        limit.CancelAfter(_options.ConnectTimeout);
        Link? link = null;
        try
        {
            link = await Link.OpenAsync(_options, DeviceId.Length > 0 ? DeviceId : null, limit.Token).ConfigureAwait(false);
            var welcome = await link.ReceiveAsync(limit.Token).ConfigureAwait(false);
            if (welcome is not { } w || WireFormat.OptionalStr(w, "event") != "welcome")
            {
                throw ClosedEarly(link);
            }

            lock (_gate)
            {
                ObjectDisposedException.ThrowIf(_disposed, this);
                Uid = WireFormat.Str(w, "uid");
                DeviceId = WireFormat.Str(w, "deviceId");
                _gapSeq = -1;
                ApplySnapshot(w, WireFormat.OptionalLong(w, "seq") ?? 0, raise: reconnect);
                _link = link;
                var opened = link;
                link.Reader = Task.Run(() => ReadAsync(opened), CancellationToken.None);
                if (reconnect)
                {
                    SetStateLocked(ConnectionState.Connected, null, null);
                }
                else
                {
                    // ConnectAsync returns connected: no handler can be attached yet to hear of it.
                    _state = ConnectionState.Connected;
                }
            }

            return link;
        }
        catch (OperationCanceledException ex) when (!cancellationToken.IsCancellationRequested && !_lifetime.IsCancellationRequested)
        {
            link?.Abort();
            link?.Dispose();
            throw new CallGrainsException(ErrorCodes.Timeout, $"no connection within {_options.ConnectTimeout.TotalSeconds:0.#} s", innerException: ex);
        }
        catch
        {
            link?.Abort();
            link?.Dispose();
            throw;
        }
    }

    private static CallGrainsException ClosedEarly(Link link) => (int?)link.CloseStatus switch
    {
        CloseCodes.TokenRevoked => new CallGrainsException(ErrorCodes.UserNotLoggedIn, link.CloseDescription ?? "auth token revoked", httpStatus: 401),
        _ => new CallGrainsException(ErrorCodes.NotConnected, $"the server closed the connection before its welcome ({link.CloseStatus} {link.CloseDescription})"),
    };

    /// <summary>Waits for the connection to drop, then reconnects with back-off until it is disposed or refused for good.</summary>
    private async Task RunAsync(Link link)
    {
        var backoff = new Backoff(_options.ReconnectBaseDelay, _options.ReconnectMaxDelay, _options.ReconnectMinInterval);
        var attempt = 0;
        while (true)
        {
            await link.Reader.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            var (status, description) = ((int?)link.CloseStatus, link.CloseDescription);
            Abandon(link);
            link.Dispose();
            if (_lifetime.IsCancellationRequested)
            {
                return;
            }

            if (status == CloseCodes.TokenRevoked)
            {
                SetState(ConnectionState.Disconnected, ErrorCodes.UserNotLoggedIn, description ?? "auth token revoked or expired");
                return;
            }

            if (status == CloseCodes.Replaced)
            {
                SetState(ConnectionState.Disconnected, "replaced", description ?? "a newer connection of this device replaced this one");
                return;
            }

            if (!_options.AutoReconnect)
            {
                SetState(ConnectionState.Disconnected, status?.ToString(System.Globalization.CultureInfo.InvariantCulture), description ?? "connection lost");
                return;
            }

            attempt = DateTimeOffset.UtcNow - link.OpenedAt >= StableConnection ? 0 : attempt;
            SetState(ConnectionState.Reconnecting, status?.ToString(System.Globalization.CultureInfo.InvariantCulture), description ?? "connection lost");
            while (true)
            {
                try
                {
                    await Task.Delay(backoff.Delay(attempt++), _lifetime.Token).ConfigureAwait(false);
                    link = await OpenAsync(reconnect: true, CancellationToken.None).ConfigureAwait(false);
                    break;
                }
                catch (CallGrainsException ex) when (Link.IsFatal(ex))
                {
                    SetState(ConnectionState.Disconnected, ex.Code, ex.ServerMessage);
                    return;
                }
                catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException && _lifetime.IsCancellationRequested)
                {
                    return;
                }
#pragma warning disable CA1031 // Whatever failed this attempt (refused, reset, a garbled welcome), the next one may succeed.
                catch (Exception ex)
#pragma warning restore CA1031
                {
                    Trace.TraceInformation($"CallGrains.Client: reconnect attempt {attempt} failed: {ex.Message}");
                }
            }
        }
    }

    /// <summary>The requests sent on a link that dropped will get no response: their waiters are told so.</summary>
    private void Abandon(Link link)
    {
        lock (_gate)
        {
            if (_link == link)
            {
                _link = null;
            }

            foreach (var (id, pending) in _pending.Where(p => p.Value.Link == link).ToList())
            {
                _pending.Remove(id);
                Track(pending, -1);
                pending.Abandon();
            }
        }
    }

    private async Task ReadAsync(Link link)
    {
        while (await link.ReceiveAsync(CancellationToken.None).ConfigureAwait(false) is { } message)
        {
            try
            {
                Handle(message);
            }
            catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
            {
                Trace.TraceWarning($"CallGrains.Client: ignored a message it could not read: {ex.Message}");
            }
        }
    }

    /// <summary>One message off the socket, in arrival order: an event or a response.</summary>
    private void Handle(JsonElement message)
    {
        if (WireFormat.OptionalStr(message, "event") is { } name)
        {
            HandleEvent(name, message);
        }
        else if (WireFormat.OptionalStr(message, "id") is { } id)
        {
            HandleResponse(id, message);
        }
    }

    private void HandleEvent(string name, JsonElement message)
    {
        var call = WireFormat.OptionalCall(message, "call");
        if (name == "signal")
        {
            // Not numbered (it goes to one device): no gap or duplicate check.
            var signal = new SignalEventArgs(call?.SessionId ?? "", WireFormat.OptionalStr(message, "from") ?? "", message.TryGetProperty("data", out var data) ? data : JsonOptions.EmptyObject);
            _events.Post(() => SignalReceived?.Invoke(this, signal));
            return;
        }

        if (call is null || WireFormat.OptionalLong(message, "seq") is not { } seq)
        {
            return;
        }

        var reason = WireFormat.OptionalStr(message, "reason") is { } r ? WireFormat.ParseReason(r) : (CancelReason?)null;
        var user = message.TryGetProperty("user", out var u) && u.ValueKind == JsonValueKind.Object ? WireFormat.ParseUser(u) : null;
        lock (_gate)
        {
            if (_dropEvents > 0)
            {
                _dropEvents--;
                _eventsDropped++;
                return;
            }

            if (seq <= _seq)
            {
                // Already seen (a redelivery after a failure): dropped.
                return;
            }

            if (seq > _seq + 1)
            {
                // Events before this one were lost. It is set aside, not applied: the resync's snapshot covers it, and
                // the difference from the view as it was before the loss raises its event along with the lost ones.
                _gapSeq = Math.Max(_gapSeq, seq);
            }
            else
            {
                _seq = seq;
                _view = _view.Apply(name, call, reason, user, Uid);
                Raise(name, new CallEventArgs(call, seq, isResync: false), reason, user);
                return;
            }
        }

        StartSync();
    }

    private void HandleResponse(string id, JsonElement message)
    {
        Pending? pending;
        var jumped = false;
        lock (_gate)
        {
            if (!_pending.Remove(id, out pending))
            {
                return;
            }

            Track(pending, -1);
            var seq = WireFormat.OptionalLong(message, "seq");
            if (pending.Op == "sync")
            {
                ApplySyncResponse(message, seq ?? _seq);
            }
            else if (seq is { } s)
            {
                // A device gets responses, not events, for what it did, and the seq moves past those (by one at most);
                // a response further ahead than that means this device missed something meanwhile: a gap.
                jumped = _seq >= 0 && s > _seq + (QuietOps.Contains(pending.Op) ? 0 : 1);
                if (jumped)
                {
                    _gapSeq = Math.Max(_gapSeq, s);
                }
                else
                {
                    _seq = Math.Max(_seq, s);
                }

                if (WireFormat.OptionalCall(message, "call") is { } call)
                {
                    var ok = message.TryGetProperty("ok", out var okElement) && okElement.ValueKind == JsonValueKind.True;
                    _view = _view.ApplyResponse(pending.Op, ok, call);
                }
            }
        }

        pending.Complete(message);
        if (jumped)
        {
            StartSync();
        }
    }

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

        Interlocked.Increment(ref _syncsStarted);
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

    private void Raise(string name, CallEventArgs args, CancelReason? reason, CallUser? user)
    {
        var (call, seq, resync) = (args.Call, args.Seq, args.IsResync);
        switch (name)
        {
            case "incomingCallReceived":
                _events.Post(() => IncomingCallReceived?.Invoke(this, args));
                break;
            case "outgoingCallAccepted":
                _events.Post(() => OutgoingCallAccepted?.Invoke(this, args));
                break;
            case "outgoingCallRejected":
                _events.Post(() => OutgoingCallRejected?.Invoke(this, args));
                break;
            case "incomingCallCanceled":
                var canceled = new CallCanceledEventArgs(call, seq, resync, reason ?? CancelReason.Unknown);
                _events.Post(() => IncomingCallCanceled?.Invoke(this, canceled));
                break;
            case "callEndedMessageReceived":
                _events.Post(() => CallEndedMessageReceived?.Invoke(this, args));
                break;
            case "userJoined" when user is not null:
                var joined = new CallUserEventArgs(call, seq, resync, user);
                _events.Post(() => UserJoined?.Invoke(this, joined));
                break;
            case "userLeft" when user is not null:
                var left = new CallUserEventArgs(call, seq, resync, user);
                _events.Post(() => UserLeft?.Invoke(this, left));
                break;
        }
    }

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

    private void SetState(ConnectionState state, string? code, string? message)
    {
        lock (_gate)
        {
            SetStateLocked(state, code, message);
        }
    }

    private void SetStateLocked(ConnectionState state, string? code, string? message)
    {
        if (_state == state || _state == ConnectionState.Disconnected)
        {
            return;
        }

        _state = state;
        var args = new ConnectionStateChangedEventArgs(state, code, message);
        _events.Post(() => ConnectionStateChanged?.Invoke(this, args));
    }

    /// <summary>The server's close codes the client acts on (docs/protocol.md).</summary>
    private static class CloseCodes
    {
        public const int Replaced = 4000;
        public const int TokenRevoked = 4001;
    }
}
