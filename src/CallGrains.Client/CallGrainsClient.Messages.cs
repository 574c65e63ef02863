using System.Text.Json;
using CallGrains.Client.Internal;
using CallGrains.Client.Protocol;

namespace CallGrains.Client;

/// <summary>Messages off the socket, in arrival order: events checked against the seq and raised, responses applied to the view.</summary>
public sealed partial class CallGrainsClient
{
    /// <summary>Requests whose response can never carry events of this device's own making: any seq they move is a gap.</summary>
    private static readonly HashSet<string> QuietOps = ["signal", "ping", "generateToken"];

    // The highest seq of an event set aside because events before it were missing; while it is above _seq, a resync is due.
    private long _gapSeq = -1;

    /// <summary>One message off the socket, in arrival order: an event or a response.</summary>
    private void Handle(ProtocolMessage received)
    {
        var message = received.Json;
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

        if (jumped)
        {
            StartSync();
        }
    }

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

}
