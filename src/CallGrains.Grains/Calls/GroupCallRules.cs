using System.Collections.Immutable;
using CallGrains.Abstractions;

namespace CallGrains.Grains.Calls;

/// <summary>
/// The rules of a group call (PROTOCOL section 6, "Group calls"), with no storage, timers or messages: given the call
/// and a command, the new call and the updates owed to each party, or the refusal. The initiator is a participant
/// from the start; the other members ring, join, reject, leave; the call ends when its last participant leaves, when
/// the initiator ends it, or when nobody joined before the ring deadline. A call past its ring deadline is timed out
/// by the grain before any command is decided (<see cref="TimeOut"/>).
/// </summary>
public static class GroupCallRules
{
    /// <summary>The call a group initiate starts: the initiator in it, <paramref name="members"/> ringing or busy.</summary>
    public static CallInfo Start(CallInfo call, UserRef initiator, IEnumerable<CallMember> members, DateTimeOffset now) => call with
    {
        Initiator = initiator,
        Members = [.. members],
        Participants = [new Participant(initiator.Uid, now, null)],
    };

    /// <summary>Every ringing member's devices ring; the initiator's slot stays as reserved (their outgoing call).</summary>
    public static Decision Ring(CallInfo call) => new()
    {
        Next = call,
        Updates = [.. Ringing(call).Select(m => new PartyUpdate(m.Uid, SlotPhase.Ringing, Event(CallEventType.IncomingCallReceived)))],
    };

    /// <summary>Whether the call still rings for someone: every member may still be rung until the deadline.</summary>
    public static bool Rings(CallInfo call) => call.Status.IsLive() && call.Members.Any(m => m.Status == MemberStatus.Ringing);

    /// <summary>When the one participant left alone would end the call, if that is the case now.</summary>
    public static bool Alone(CallInfo call) => call.Status == CallStatus.Ongoing && call.Participants.Count(p => p.LeftAt is null) == 1;

    /// <summary>A ringing member accepts: they join (see <see cref="Join"/>).</summary>
    public static Decision Accept(CallView view, string uid, string? deviceId, DateTimeOffset now)
    {
        if (Refuse(view, uid) is { } refused)
        {
            return Decision.Refuse(refused);
        }

        if (view.Call.MemberStatusOf(uid) != MemberStatus.Ringing)
        {
            return Decision.Refuse(NotRinging(view.Call, uid, "accept"));
        }

        return Join(view, view.Call.Members.First(m => m.Uid == uid).ToRef(), deviceId, now);
    }

    /// <summary>
    /// A member joins: the first join makes the call ongoing and tells the initiator (outgoingCallAccepted); every join
    /// sends userJoined to the participants already in. The grain has checked membership and reserved the joiner.
    /// </summary>
    public static Decision Join(CallView view, UserRef user, string? deviceId, DateTimeOffset now)
    {
        var call = view.Call;
        if (call.Status.IsFinal())
        {
            return Decision.Refuse(CallRules.Refused(call, ErrorCodes.ForFinalStatus(call.Status)));
        }

        if (call.IsPresent(user.Uid))
        {
            return Decision.Refuse(CallRules.Refused(call, CallErrorCode.CallAlreadyJoined, $"{user.Uid} is in call {call.SessionId} already"));
        }

        var wasRinging = call.MemberStatusOf(user.Uid) == MemberStatus.Ringing;
        var first = call.Status == CallStatus.Initiated;
        var next = call with
        {
            Status = CallStatus.Ongoing,
            JoinedAt = call.JoinedAt ?? now,
            Members = user.Uid == call.Initiator.Uid ? call.Members : WithMember(call.Members, new CallMember(user.Uid, user.Name, MemberStatus.Joined)),
            Participants = WithParticipant(call.Participants, user.Uid, now),
        };
        var updates = ImmutableArray.CreateBuilder<PartyUpdate>();
        foreach (var p in Present(call))
        {
            if (first && p == call.Initiator.Uid)
            {
                updates.Add(new PartyUpdate(p, SlotPhase.Ongoing, Event(CallEventType.OutgoingCallAccepted)));
            }

            updates.Add(new PartyUpdate(p, SlotPhase.Ongoing, Event(CallEventType.UserJoined, user)));
        }

        updates.Add(new PartyUpdate(
            user.Uid,
            SlotPhase.Ongoing,
            wasRinging ? Canceled(CancelReason.AnsweredElsewhere) : Event(CallEventType.UserJoined, user),
            deviceId));
        return new Decision { Next = next, Updates = updates.ToImmutable(), Outcome = wasRinging ? "accepted" : "joined" };
    }

    /// <summary>A ringing member rejects (only their ringing stops), or the initiator cancels the call while nobody joined.</summary>
    public static Decision Reject(CallView view, string uid, CallStatus status, string? deviceId, DateTimeOffset now)
    {
        if ((CallRules.RefuseRejectStatus(status) ?? Refuse(view, uid)) is { } refused)
        {
            return Decision.Refuse(refused);
        }

        var call = view.Call;
        if (status == CallStatus.Cancelled)
        {
            if (uid != call.Initiator.Uid)
            {
                return Decision.Refuse(CallRules.Refused(call, CallErrorCode.PermissionDenied, "only the caller may cancel"));
            }

            return call.Status == CallStatus.Initiated
                ? Cancel(call, deviceId, now)
                : Decision.Refuse(CallRules.Refused(call, CallErrorCode.CallAlreadyJoined, $"call {call.SessionId} is ongoing: end it or leave it"));
        }

        if (call.MemberStatusOf(uid) != MemberStatus.Ringing)
        {
            return Decision.Refuse(uid == call.Initiator.Uid
                ? CallRules.Refused(call, CallErrorCode.PermissionDenied, "only a ringing member may reject; the caller cancels")
                : NotRinging(call, uid, "reject"));
        }

        var next = call with
        {
            Members = WithStatus(call.Members, uid, MemberStatus.Rejected),
            Declined = call.Declined.Contains(uid) ? call.Declined : call.Declined.Add(uid),
        };
        return StopRinging(next, [new PartyUpdate(uid, SlotPhase.Free, Canceled(CancelReason.RejectedElsewhere), deviceId)], status.ToString(), now);
    }

    /// <summary>A participant leaves; the last one out ends the call. The initiator leaving a call nobody joined cancels it.</summary>
    public static Decision Leave(CallView view, string uid, string? deviceId, DateTimeOffset now)
    {
        if (Refuse(view, uid) is { } refused)
        {
            return Decision.Refuse(refused);
        }

        var call = view.Call;
        if (uid == call.Initiator.Uid && call.Status == CallStatus.Initiated)
        {
            return Cancel(call, deviceId, now);
        }

        if (call.MemberStatusOf(uid) == MemberStatus.Ringing)
        {
            return Reject(view, uid, CallStatus.Rejected, deviceId, now);
        }

        if (!call.IsPresent(uid))
        {
            return Decision.Refuse(CallRules.Refused(call, CallErrorCode.PermissionDenied, $"{uid} is not in call {call.SessionId}"));
        }

        var next = call with { Participants = [.. call.Participants.Select(p => p.Uid == uid && p.LeftAt is null ? p with { LeftAt = now } : p)] };
        var others = Present(next).ToList();
        if (others.Count == 0)
        {
            return EndAll(next, uid, deviceId, now);
        }

        var user = RefOf(call, uid);
        var left = Event(CallEventType.UserLeft, user);
        return new Decision
        {
            Next = next,
            Outcome = "left",
            Updates = [.. others.Select(p => new PartyUpdate(p, SlotPhase.Ongoing, left)), new PartyUpdate(uid, SlotPhase.Free, left, deviceId)],
        };
    }

    /// <summary>The initiator's end ends the call for everyone; anyone else's is a leave (a ringing member's, a reject).</summary>
    public static Decision End(CallView view, string uid, string? deviceId, DateTimeOffset now)
    {
        if (Refuse(view, uid) is { } refused)
        {
            return Decision.Refuse(refused);
        }

        var call = view.Call;
        if (uid != call.Initiator.Uid || call.Status == CallStatus.Initiated)
        {
            return Leave(view, uid, deviceId, now);
        }

        return call.IsPresent(uid)
            ? EndAll(call, uid, deviceId, now)
            : Decision.Refuse(CallRules.Refused(call, CallErrorCode.PermissionDenied, $"{uid} left call {call.SessionId}; join it again to end it"));
    }

    /// <summary>
    /// The ring deadline: members still ringing stop (unanswered). A call nobody joined ends unanswered (or rejected, when
    /// every member rang rejected it); an ongoing one goes on.
    /// </summary>
    public static Decision TimeOut(CallView view, DateTimeOffset now)
    {
        var call = view.Call;
        var ringing = Ringing(call).Select(m => m.Uid).ToList();
        var next = call with { Members = [.. call.Members.Select(m => m.Status == MemberStatus.Ringing ? m with { Status = MemberStatus.Unanswered } : m)] };
        return StopRinging(next, [.. ringing.Select(uid => new PartyUpdate(uid, SlotPhase.Free, Canceled(CancelReason.Unanswered)))], "unanswered", now);
    }

    /// <summary>
    /// Members removed from the group stop ringing (cancelled, as if the caller had stopped for them); allowed and no
    /// change when none of them rings. A call nobody joined that rings for no one any more ends unanswered.
    /// </summary>
    public static Decision StopRingingFor(CallView view, IEnumerable<string> uids, DateTimeOffset now)
    {
        var call = view.Call;
        var stopped = Ringing(call).Select(m => m.Uid).Intersect(uids, StringComparer.Ordinal).ToList();
        if (stopped.Count == 0 || call.Status.IsFinal())
        {
            return Decision.Allowed;
        }

        var next = call with { Members = [.. call.Members.Select(m => stopped.Contains(m.Uid) ? m with { Status = MemberStatus.Unanswered } : m)] };
        return StopRinging(next, [.. stopped.Select(uid => new PartyUpdate(uid, SlotPhase.Free, Canceled(CancelReason.Cancelled)))], "removed", now);
    }

    /// <summary>One participant has been alone for the idle timeout: the call ends.</summary>
    public static Decision IdleEnd(CallView view, DateTimeOffset now) =>
        Alone(view.Call) ? EndAll(view.Call, null, null, now) : Decision.Allowed;

    /// <summary>
    /// A party has had no device for the disconnect grace: a participant leaves (the initiator of a call nobody joined
    /// cancels it), a ringing member stops ringing as unanswered. Allowed and no change otherwise.
    /// </summary>
    public static Decision Abandon(CallView view, string uid, DateTimeOffset now)
    {
        var call = view.Call;
        if (!view.IsParty(uid) || call.Status.IsFinal())
        {
            return Decision.Allowed;
        }

        if (call.IsPresent(uid))
        {
            return Leave(view, uid, null, now);
        }

        if (call.MemberStatusOf(uid) != MemberStatus.Ringing)
        {
            return Decision.Allowed;
        }

        var next = call with { Members = WithStatus(call.Members, uid, MemberStatus.Unanswered) };
        return StopRinging(next, [new PartyUpdate(uid, SlotPhase.Free, Canceled(CancelReason.Unanswered))], "unanswered", now);
    }

    /// <summary>
    /// Where <paramref name="uid"/>'s slot should stand for this call: ongoing while in it, untouched while ringing or
    /// while the initiator waits (null), free otherwise.
    /// </summary>
    public static SlotPhase? PhaseOf(CallInfo call, string uid) => call switch
    {
        _ when call.Status.IsFinal() => SlotPhase.Free,
        _ when call.IsPresent(uid) => call.Status == CallStatus.Ongoing ? SlotPhase.Ongoing : null,
        _ when call.MemberStatusOf(uid) == MemberStatus.Ringing => null,
        _ => SlotPhase.Free,
    };

    /// <summary>The user's name as the call knows it (the initiator's profile or the member entry).</summary>
    public static UserRef RefOf(CallInfo call, string uid) =>
        uid == call.Initiator.Uid ? call.Initiator : call.Members.FirstOrDefault(m => m.Uid == uid)?.ToRef() ?? new UserRef(uid, uid);

    private static UserRef ToRef(this CallMember member) => new(member.Uid, member.Name);

    /// <summary>
    /// After members stopped ringing (their updates in <paramref name="updates"/>): a call nobody joined whose members
    /// all stopped ringing ends, rejected when every member rung rejected it, otherwise unanswered.
    /// </summary>
    private static Decision StopRinging(CallInfo call, ImmutableArray<PartyUpdate> updates, string outcome, DateTimeOffset now)
    {
        if (call.Status != CallStatus.Initiated || Rings(call))
        {
            return new Decision { Next = call, Updates = updates, Outcome = outcome };
        }

        var rung = call.Members.Where(m => m.Status != MemberStatus.Busy).ToList();
        var status = rung.Count > 0 && rung.All(m => m.Status == MemberStatus.Rejected) ? CallStatus.Rejected : CallStatus.Unanswered;
        var settled = call with { Status = status, EndedAt = now, Participants = LeaveAll(call.Participants, now) };
        return new Decision
        {
            Next = settled,
            Outcome = status.ToString(),
            Updates = [.. updates, new PartyUpdate(call.Initiator.Uid, SlotPhase.Free, Event(CallEventType.OutgoingCallRejected))],
        };
    }

    /// <summary>The initiator cancels a call nobody joined: every ringing member stops (cancelled).</summary>
    private static Decision Cancel(CallInfo call, string? deviceId, DateTimeOffset now)
    {
        var next = call with
        {
            Status = CallStatus.Cancelled,
            EndedAt = now,
            Participants = LeaveAll(call.Participants, now),
            Members = [.. call.Members.Select(m => m.Status == MemberStatus.Ringing ? m with { Status = MemberStatus.Unanswered } : m)],
        };
        return new Decision
        {
            Next = next,
            Outcome = "cancelled",
            Updates =
            [
                .. Ringing(call).Select(m => new PartyUpdate(m.Uid, SlotPhase.Free, Canceled(CancelReason.Cancelled))),
                new PartyUpdate(call.Initiator.Uid, SlotPhase.Free, null, deviceId),
            ],
        };
    }

    /// <summary>The call ends for everyone: participants get callEndedMessageReceived, members still ringing stop.</summary>
    private static Decision EndAll(CallInfo call, string? uid, string? deviceId, DateTimeOffset now)
    {
        var present = Present(call).ToList();
        var next = call with
        {
            Status = CallStatus.Ended,
            EndedAt = now,
            Participants = LeaveAll(call.Participants, now),
            Members = [.. call.Members.Select(m => m.Status == MemberStatus.Ringing ? m with { Status = MemberStatus.Unanswered } : m)],
        };
        var ended = Event(CallEventType.CallEndedMessageReceived);
        var updates = ImmutableArray.CreateBuilder<PartyUpdate>();
        updates.AddRange(present.Select(p => new PartyUpdate(p, SlotPhase.Free, ended, p == uid ? deviceId : null)));
        if (uid is not null && !present.Contains(uid))
        {
            // The last one out: their other devices learn that the call is over.
            updates.Add(new PartyUpdate(uid, SlotPhase.Free, ended, deviceId));
        }

        updates.AddRange(Ringing(call).Select(m => new PartyUpdate(m.Uid, SlotPhase.Free, Canceled(CancelReason.Cancelled))));
        return new Decision { Next = next, Updates = updates.ToImmutable(), Outcome = "ended" };
    }

    /// <summary>Not found, not a party (the initiator or a member the call rang or was joined by), or settled.</summary>
    private static CallResult? Refuse(CallView view, string uid) =>
        CallRules.RefuseStranger(view.SessionId, view, uid)
        ?? (view.Call.Status.IsFinal() ? CallRules.Refused(view.Call, ErrorCodes.ForFinalStatus(view.Call.Status)) : null);

    private static CallResult NotRinging(CallInfo call, string uid, string action) => call.MemberStatusOf(uid) switch
    {
        MemberStatus.Joined when call.IsPresent(uid) => CallRules.Refused(call, CallErrorCode.CallAlreadyJoined, $"{uid} is in call {call.SessionId} already"),
        _ => CallRules.Refused(call, CallErrorCode.PermissionDenied, $"call {call.SessionId} does not ring for {uid} (it cannot {action}; joinCall joins it)"),
    };

    private static IEnumerable<CallMember> Ringing(CallInfo call) => call.Members.Where(m => m.Status == MemberStatus.Ringing);

    private static IEnumerable<string> Present(CallInfo call) => call.Participants.Where(p => p.LeftAt is null).Select(p => p.Uid);

    private static ImmutableArray<Participant> LeaveAll(ImmutableArray<Participant> participants, DateTimeOffset now) =>
        [.. participants.Select(p => p.LeftAt is null ? p with { LeftAt = now } : p)];

    private static ImmutableArray<CallMember> WithStatus(ImmutableArray<CallMember> members, string uid, MemberStatus status) =>
        [.. members.Select(m => m.Uid == uid ? m with { Status = status } : m)];

    private static ImmutableArray<CallMember> WithMember(ImmutableArray<CallMember> members, CallMember member) =>
        members.Any(m => m.Uid == member.Uid) ? WithStatus(members, member.Uid, member.Status) : members.Add(member);

    /// <summary>A rejoin keeps the first join time and clears the leave.</summary>
    private static ImmutableArray<Participant> WithParticipant(ImmutableArray<Participant> participants, string uid, DateTimeOffset now) =>
        participants.Any(p => p.Uid == uid)
            ? [.. participants.Select(p => p.Uid == uid ? p with { LeftAt = null } : p)]
            : participants.Add(new Participant(uid, now, null));

    private static CallEvent Event(CallEventType type, UserRef? user = null) => new() { Type = type, User = user };

    private static CallEvent Canceled(CancelReason reason) => new() { Type = CallEventType.IncomingCallCanceled, Reason = reason };
}
