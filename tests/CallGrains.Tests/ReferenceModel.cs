using CallGrains.Abstractions;
using CallGrains.Grains.Calls;

namespace CallGrains.Tests;

/// <summary>
/// The ringing rules of PROTOCOL sections 6 and 7, 1:1 and group calls, as plainly as they can be written: one slot
/// per user, one status per call, every request applied in one step. What a request does to a call is decided by
/// <see cref="CallRules"/> and <see cref="GroupCallRules"/>, the server's own rules (tested on their own in
/// CallRulesTests and GroupCallRulesTests); the model adds who holds which slot, glare, busy, group membership and a
/// group's one live call. The model-based test checks the cluster against it.
/// </summary>
public sealed class ReferenceModel
{
    public sealed record Slot(string SessionId, bool Ongoing);

    /// <summary>A call: for a group call, <see cref="Callee"/> is the group and <see cref="Group"/> the call as the rules keep it.</summary>
    public sealed record ModelCall(string Caller, string Callee, CallStatus Status, CallInfo? Group = null)
    {
        /// <summary>Everyone whose slot the call may hold or change: its two parties, or its initiator and members.</summary>
        public IEnumerable<string> Parties => Group is { } g ? [Caller, .. g.Members.Select(m => m.Uid)] : [Caller, Callee];
    }

    public sealed record Outcome(CallErrorCode? Error, CallStatus? Status, string? SessionId);

    public Dictionary<string, Slot?> Users { get; } = [];

    public Dictionary<string, ModelCall> Calls { get; } = [];

    /// <summary>Each group's members, in the order the group keeps them.</summary>
    public Dictionary<string, string[]> Groups { get; } = [];

    public Outcome Call(string sessionId, string caller, string callee)
    {
        if (caller == callee)
        {
            return new(CallErrorCode.CallingSelf, null, null);
        }

        if (Users[caller] is { } mine)
        {
            var held = Calls[mine.SessionId];
            if (!mine.Ongoing && held.Group is null && held.Callee == caller && held.Caller == callee)
            {
                // Glare: the callee's own call to us rings, so calling back answers it.
                return Accept(mine.SessionId, caller);
            }

            return Taken(caller, mine);
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

    /// <summary>
    /// A member calls their group: a live call of the group answers busy with that call; otherwise the caller's slot
    /// is taken, every other free member rings and busy ones are listed busy; nobody to ring is a busy call.
    /// </summary>
    public Outcome CallGroup(string sessionId, string caller, string groupId)
    {
        var members = Groups[groupId];
        if (!members.Contains(caller))
        {
            return new(CallErrorCode.PermissionDenied, null, null);
        }

        if (LiveCallOf(groupId) is { } live)
        {
            return new(CallErrorCode.CallBusy, Calls[live].Status, live);
        }

        if (Users[caller] is { } mine)
        {
            return Taken(caller, mine);
        }

        var others = members.Where(m => m != caller)
            .Select(m => new CallMember(m, m, Users[m] is null ? MemberStatus.Ringing : MemberStatus.Busy))
            .ToList();
        var request = new InitiateRequest { CallerUid = caller, ReceiverId = groupId, ReceiverType = ReceiverType.Group };
        var call = GroupCallRules.Start(CallRules.NewCall(sessionId, request, 45, Now), new UserRef(caller, caller), others, Now);
        if (others.All(m => m.Status == MemberStatus.Busy))
        {
            Calls[sessionId] = new ModelCall(caller, groupId, CallStatus.Busy, call with { Status = CallStatus.Busy });
            return new(CallErrorCode.CallBusy, CallStatus.Busy, sessionId);
        }

        Calls[sessionId] = new ModelCall(caller, groupId, CallStatus.Initiated, call);
        Users[caller] = new Slot(sessionId, false);
        foreach (var member in others.Where(m => m.Status == MemberStatus.Ringing))
        {
            Users[member.Uid] = new Slot(sessionId, false);
        }

        return new(null, CallStatus.Initiated, sessionId);
    }

    // The model decides what a request does to a call with the server's own rules; what it adds is everything
    // around them, written as plainly as it can be: one slot per user, one step per request, no storage or delivery.
    public Outcome Accept(string sessionId, string uid) => Decide(
        sessionId,
        view => CallKindRules.Accept(view, uid, null, Now));

    public Outcome Reject(string sessionId, string uid, CallStatus status) => Decide(
        sessionId,
        view => CallKindRules.Reject(view, uid, status, null, Now));

    public Outcome End(string sessionId, string uid) => Decide(
        sessionId,
        view => CallKindRules.End(view, uid, null, Now));

    public Outcome Leave(string sessionId, string uid) =>
        Calls[sessionId].Group is null ? NotForOneToOne(sessionId, uid) : Decide(sessionId, view => GroupCallRules.Leave(view, uid, null, Now));

    /// <summary>
    /// Joining a group call: a ringing member accepts; someone in it already, or a party of a settled call, is answered
    /// by the rules; anyone else must be a member of the group (a live call) and free. A settled call's non-parties are
    /// refused before they learn it settled.
    /// </summary>
    public Outcome Join(string sessionId, string uid)
    {
        if (Calls[sessionId].Group is not { } call)
        {
            return NotForOneToOne(sessionId, uid);
        }

        if (call.MemberStatusOf(uid) == MemberStatus.Ringing)
        {
            return Accept(sessionId, uid);
        }

        if (call.Status.IsFinal() && !call.IsPresent(uid) && !Calls[sessionId].Parties.Contains(uid))
        {
            return new(CallErrorCode.PermissionDenied, null, null);
        }

        if (!call.Status.IsFinal() && !call.IsPresent(uid))
        {
            if (!Groups[call.ReceiverId].Contains(uid))
            {
                return new(CallErrorCode.PermissionDenied, null, null);
            }

            if (Users[uid] is { } mine)
            {
                return Taken(uid, mine);
            }
        }

        return Decide(sessionId, view => GroupCallRules.Join(view, GroupCallRules.RefOf(view.Call, uid), null, Now));
    }

    /// <summary>Join and leave on a 1:1 call: its parties are told it is the wrong request, anyone else only that they may not.</summary>
    private Outcome NotForOneToOne(string sessionId, string uid) =>
        new(Calls[sessionId].Parties.Contains(uid) ? CallErrorCode.BadRequest : CallErrorCode.PermissionDenied, null, null);

    /// <summary>The group's live call, if it has one.</summary>
    public string? LiveCallOf(string groupId) =>
        Calls.Where(c => c.Value.Group is not null && c.Value.Callee == groupId && c.Value.Status.IsLive()).Select(c => c.Key).SingleOrDefault();

    private static readonly DateTimeOffset Now = DateTimeOffset.UnixEpoch;

    /// <summary>The caller's slot is taken: by their own outgoing call still ringing, or by any other call.</summary>
    private Outcome Taken(string uid, Slot mine) =>
        new(!mine.Ongoing && Calls[mine.SessionId].Caller == uid ? CallErrorCode.CallAlreadyInitiated : CallErrorCode.CallInProgress, null, null);

    private Outcome Decide(string sessionId, Func<CallView, Decision> rule)
    {
        var call = Calls[sessionId];
        var decision = rule(View(sessionId, call));
        if (decision.Refusal is { Error: { } error })
        {
            return new(error.Code, null, null);
        }

        var next = decision.Next ?? View(sessionId, call).Call;
        Calls[sessionId] = call with { Status = next.Status, Group = call.Group is null ? null : next };
        foreach (var update in decision.Updates)
        {
            // A user's slot only follows the call that holds it (a member who rang busy keeps their other call).
            if (Users[update.Uid] is { } held && held.SessionId != sessionId)
            {
                continue;
            }

            Users[update.Uid] = update.Phase == SlotPhase.Free ? null : new Slot(sessionId, update.Phase == SlotPhase.Ongoing);
        }

        return new(null, next.Status, sessionId);
    }

    /// <summary>The call as the rules see it; the model's calls ring until a request settles them (no deadline).</summary>
    private static CallView View(string sessionId, ModelCall call) => call.Group is { } group
        ? new CallView(group, group.ReceiverId, RingDeadline: null)
        : new(
            CallRules.NewCall(sessionId, new InitiateRequest { CallerUid = call.Caller, ReceiverId = call.Callee }, 45, Now) with
            {
                Status = call.Status,
                Participants = call.Status == CallStatus.Ongoing ? [new Participant(call.Caller, Now, null), new Participant(call.Callee, Now, null)] : [],
            },
            call.Callee,
            RingDeadline: null);
}
