using CallGrains.Abstractions;
using CallGrains.Grains;

namespace CallGrains.Tests;

/// <summary>
/// The ringing rules of PROTOCOL sections 6 and 7 for 1:1 calls, as plainly as they can be written: one slot per
/// user, one status per call, every request applied in one step. What a request does to a call is decided by
/// <see cref="CallRules"/>, the server's own rules (tested on their own in CallRulesTests); the model adds who holds
/// which slot, glare and busy. The model-based test checks the cluster against it.
/// </summary>
public sealed class ReferenceModel
{
    public sealed record Slot(string SessionId, bool Ongoing);

    public sealed record ModelCall(string Caller, string Callee, CallStatus Status);

    public sealed record Outcome(CallErrorCode? Error, CallStatus? Status, string? SessionId);

    public Dictionary<string, Slot?> Users { get; } = [];

    public Dictionary<string, ModelCall> Calls { get; } = [];

    public Outcome Call(string sessionId, string caller, string callee)
    {
        if (caller == callee)
        {
            return new(CallErrorCode.CallingSelf, null, null);
        }

        if (Users[caller] is { } mine)
        {
            var held = Calls[mine.SessionId];
            if (!mine.Ongoing && held.Callee == caller && held.Caller == callee)
            {
                // Glare: the callee's own call to us rings, so calling back answers it.
                return Accept(mine.SessionId, caller);
            }

            return new(!mine.Ongoing && held.Caller == caller ? CallErrorCode.CallAlreadyInitiated : CallErrorCode.CallInProgress, null, null);
        }

        if (Users[callee] is not null)
        {
            Calls[sessionId] = new ModelCall(caller, callee, CallStatus.Busy);
            return new(CallErrorCode.CallBusy, CallStatus.Busy, sessionId);
        }

        Calls[sessionId] = new ModelCall(caller, callee, CallStatus.Initiated);
        Users[caller] = new Slot(sessionId, false);
        Users[callee] = new Slot(sessionId, false);
        return new(null, CallStatus.Initiated, sessionId);
    }

    // The model decides what a request does to a call with the server's own rules; what it adds is everything
    // around them, written as plainly as it can be: one slot per user, one step per request, no storage or delivery.
    public Outcome Accept(string sessionId, string uid) => Decide(sessionId, view => CallRules.Accept(view, uid, null, Now));

    public Outcome Reject(string sessionId, string uid, CallStatus status) =>
        Decide(sessionId, view => CallRules.Reject(view, uid, status, null, Now));

    public Outcome End(string sessionId, string uid) => Decide(sessionId, view => CallRules.End(view, uid, null, Now));

    private static readonly DateTimeOffset Now = DateTimeOffset.UnixEpoch;

    private Outcome Decide(string sessionId, Func<CallView, Decision> rule)
    {
        var call = Calls[sessionId];
        var decision = rule(View(sessionId, call));
        if (decision.Refusal is { Error: { } error })
        {
            return new(error.Code, null, null);
        }

        var next = decision.Next!;
        Calls[sessionId] = call with { Status = next.Status };
        foreach (var update in decision.Updates)
        {
            Users[update.Uid] = update.Phase == SlotPhase.Free ? null : new Slot(sessionId, update.Phase == SlotPhase.Ongoing);
        }

        return new(null, next.Status, sessionId);
    }

    /// <summary>The call as the rules see it; the model's calls ring until a request settles them (no deadline).</summary>
    private static CallView View(string sessionId, ModelCall call) => new(
        CallRules.NewCall(sessionId, new InitiateRequest { CallerUid = call.Caller, ReceiverId = call.Callee }, 45, Now) with
        {
            Status = call.Status,
            Participants = call.Status == CallStatus.Ongoing ? [new Participant(call.Caller, Now, null), new Participant(call.Callee, Now, null)] : [],
        },
        call.Callee,
        RingDeadline: null);
}
