using CallGrains.Abstractions;

namespace CallGrains.Tests;

/// <summary>
/// The ringing rules of PROTOCOL sections 6 and 7 for 1:1 calls, as plainly as they can be written: one slot per
/// user, one status per call, every request applied in one step. The model-based test checks the cluster against it.
/// </summary>
public sealed class ReferenceModel
{
    public sealed record Slot(string SessionId, bool Ongoing);

    public sealed record ModelCall(string Caller, string Callee, CallStatus Status);

    public sealed record Outcome(ErrorCode? Error, CallStatus? Status, string? SessionId);

    public Dictionary<string, Slot?> Users { get; } = [];

    public Dictionary<string, ModelCall> Calls { get; } = [];

    public Outcome Call(string sessionId, string caller, string callee)
    {
        if (caller == callee)
        {
            return new(ErrorCode.CallingSelf, null, null);
        }

        if (Users[caller] is { } mine)
        {
            var held = Calls[mine.SessionId];
            if (!mine.Ongoing && held.Callee == caller && held.Caller == callee)
            {
                // Glare: the callee's own call to us rings, so calling back answers it.
                return Accept(mine.SessionId, caller);
            }

            return new(!mine.Ongoing && held.Caller == caller ? ErrorCode.CallAlreadyInitiated : ErrorCode.CallInProgress, null, null);
        }

        if (Users[callee] is not null)
        {
            Calls[sessionId] = new ModelCall(caller, callee, CallStatus.Busy);
            return new(ErrorCode.CallBusy, CallStatus.Busy, sessionId);
        }

        Calls[sessionId] = new ModelCall(caller, callee, CallStatus.Initiated);
        Users[caller] = new Slot(sessionId, false);
        Users[callee] = new Slot(sessionId, false);
        return new(null, CallStatus.Initiated, sessionId);
    }

    public Outcome Accept(string sessionId, string uid) => Settle(sessionId, uid, c => c.Callee, CallStatus.Ongoing);

    public Outcome Reject(string sessionId, string uid, CallStatus status) =>
        Settle(sessionId, uid, c => status == CallStatus.Cancelled ? c.Caller : c.Callee, status);

    public Outcome End(string sessionId, string uid)
    {
        var call = Calls[sessionId];
        if (uid != call.Caller && uid != call.Callee)
        {
            return new(ErrorCode.PermissionDenied, null, null);
        }

        return call.Status switch
        {
            CallStatus.Initiated => Reject(sessionId, uid, uid == call.Caller ? CallStatus.Cancelled : CallStatus.Rejected),
            CallStatus.Ongoing => Apply(sessionId, CallStatus.Ended),
            _ => new(ErrorCodes.ForFinalStatus(call.Status), null, null),
        };
    }

    private Outcome Settle(string sessionId, string uid, Func<ModelCall, string> allowed, CallStatus to)
    {
        var call = Calls[sessionId];
        if (uid != allowed(call))
        {
            return new(ErrorCode.PermissionDenied, null, null);
        }

        return call.Status == CallStatus.Initiated ? Apply(sessionId, to) : new(ErrorCodes.ForFinalStatus(call.Status), null, null);
    }

    private Outcome Apply(string sessionId, CallStatus to)
    {
        var call = Calls[sessionId] = Calls[sessionId] with { Status = to };
        var slot = to == CallStatus.Ongoing ? new Slot(sessionId, true) : null;
        Users[call.Caller] = slot;
        Users[call.Callee] = slot;
        return new(null, to, sessionId);
    }
}
