using System.Collections.Immutable;

namespace CallGrains.Client.Internal;

/// <summary>What the client believes about its user's calls: the active call (outgoing ringing or ongoing) and the calls ringing for them.</summary>
internal sealed record CallView(CallInfo? Active, ImmutableList<CallInfo> Ringing)
{
    public static readonly CallView Empty = new(null, []);

    public bool Knows(string sessionId) => Active?.SessionId == sessionId || Ringing.Any(c => c.SessionId == sessionId);

    public CallView WithRinging(CallInfo call) => this with { Ringing = Ringing.RemoveAll(c => c.SessionId == call.SessionId).Add(call) };

    public CallView WithoutRinging(string sessionId) => this with { Ringing = Ringing.RemoveAll(c => c.SessionId == sessionId) };

    public CallView WithActive(CallInfo call) => WithoutRinging(call.SessionId) with { Active = call };

    public CallView WithoutActive(string sessionId) => Active?.SessionId == sessionId ? this with { Active = null } : this;

    /// <summary>A newer copy of a call the view holds replaces the old one; a settled call leaves the view.</summary>
    public CallView Refresh(CallInfo call)
    {
        if (call.IsSettled)
        {
            return WithoutRinging(call.SessionId).WithoutActive(call.SessionId);
        }

        var view = Ringing.Any(c => c.SessionId == call.SessionId) ? WithRinging(call) : this;
        return Active?.SessionId == call.SessionId ? view with { Active = call } : view;
    }

    /// <summary>The view after a numbered event (PROTOCOL section 5) for user <paramref name="uid"/>.</summary>
    public CallView Apply(string evt, CallInfo call, CancelReason? reason, CallUser? user, string uid) => evt switch
    {
        "incomingCallReceived" => WithRinging(call),
        "outgoingCallAccepted" => WithActive(call),
        "incomingCallCanceled" when reason == CancelReason.AnsweredElsewhere && !call.IsSettled => WithActive(call),
        "incomingCallCanceled" => WithoutRinging(call.SessionId),
        "outgoingCallRejected" or "callEndedMessageReceived" => WithoutRinging(call.SessionId).WithoutActive(call.SessionId),
        "userJoined" when user?.Uid == uid => WithActive(call),
        "userLeft" when user?.Uid == uid => WithoutRinging(call.SessionId).WithoutActive(call.SessionId),
        _ => Refresh(call),
    };

    /// <summary>The view after the response to this device's own request <paramref name="op"/> on <paramref name="call"/>.</summary>
    public CallView ApplyResponse(string op, bool ok, CallInfo call)
    {
        if (call.IsSettled || !ok)
        {
            return Refresh(call);
        }

        return op switch
        {
            "initiateCall" or "acceptCall" or "joinCall" => WithActive(call),
            "rejectCall" or "endCall" or "leaveCall" => WithoutRinging(call.SessionId).WithoutActive(call.SessionId),
            _ => Refresh(call),
        };
    }

    /// <summary>
    /// The events a device should have seen to get from <paramref name="old"/> to <paramref name="now"/> (a snapshot from
    /// <c>welcome</c> or <c>sync</c>). Calls this device has a request in flight on are left out (<paramref name="busy"/>):
    /// the response will say what happened to them; while an initiate is in flight, so are this user's own unknown calls.
    /// </summary>
    public static IReadOnlyList<Inferred> Diff(CallView old, CallView now, string uid, IReadOnlySet<string> busy, bool initiating)
    {
        var inferred = new List<Inferred>();
        bool Skip(CallInfo call) => busy.Contains(call.SessionId) || (initiating && call.Initiator.Uid == uid && !old.Knows(call.SessionId));

        foreach (var call in now.Ringing.Where(c => !old.Ringing.Any(o => o.SessionId == c.SessionId) && !Skip(c)))
        {
            inferred.Add(new Inferred(InferredKind.IncomingCallReceived, call));
        }

        foreach (var call in old.Ringing.Where(c => !now.Ringing.Any(n => n.SessionId == c.SessionId) && !Skip(c)))
        {
            inferred.Add(now.Active?.SessionId == call.SessionId
                ? new Inferred(InferredKind.IncomingCallCanceled, now.Active, Reason: CancelReason.AnsweredElsewhere)
                : new Inferred(InferredKind.IncomingCallCanceled, call, NeedsFinalState: true));
        }

        if (old.Active is { } was && now.Active?.SessionId != was.SessionId && !Skip(was))
        {
            inferred.Add(new Inferred(InferredKind.ActiveCallGone, was, NeedsFinalState: true));
        }

        if (now.Active is { Status: CallStatus.Ongoing } active && !Skip(active))
        {
            var previous = old.Active?.SessionId == active.SessionId ? old.Active : null;
            if (active.Initiator.Uid == uid && previous?.Status != CallStatus.Ongoing)
            {
                inferred.Add(new Inferred(InferredKind.OutgoingCallAccepted, active));
            }

            if (active.IsGroup && previous is not null)
            {
                inferred.AddRange(ParticipantChanges(previous, active, uid));
            }
        }

        return inferred;
    }

    /// <summary>For a ringing call that left the view while the client was away: why it stopped ringing, from its final state.</summary>
    public static CancelReason ReasonFromFinal(CallInfo final, string uid)
    {
        if (final.IsGroup)
        {
            return final.Members.FirstOrDefault(m => m.Uid == uid)?.Status switch
            {
                MemberStatus.Joined => CancelReason.AnsweredElsewhere,
                MemberStatus.Rejected or MemberStatus.Busy => CancelReason.RejectedElsewhere,
                MemberStatus.Unanswered when final.Status is CallStatus.Cancelled or CallStatus.Ended or CallStatus.Rejected => CancelReason.Cancelled,
                MemberStatus.Unanswered => CancelReason.Unanswered,
                _ => CancelReason.Unknown,
            };
        }

        return final.Status switch
        {
            CallStatus.Cancelled => CancelReason.Cancelled,
            CallStatus.Unanswered => CancelReason.Unanswered,
            CallStatus.Rejected or CallStatus.Busy => CancelReason.RejectedElsewhere,
            CallStatus.Ongoing or CallStatus.Ended => CancelReason.AnsweredElsewhere,
            _ => CancelReason.Unknown,
        };
    }

    /// <summary>For the active call that left the view: an outgoing call declined or unanswered, or else a call that ended for this user.</summary>
    public static bool WasRejectedOutgoing(CallInfo was, CallInfo final, string uid) =>
        was.Status == CallStatus.Initiated && was.Initiator.Uid == uid && final.Status is CallStatus.Rejected or CallStatus.Busy or CallStatus.Unanswered;

    private static IEnumerable<Inferred> ParticipantChanges(CallInfo previous, CallInfo now, string uid)
    {
        var before = previous.PresentParticipants.Select(p => p.Uid).Where(u => u != uid).ToHashSet();
        var after = now.PresentParticipants.Select(p => p.Uid).Where(u => u != uid).ToHashSet();
        foreach (var joined in after.Where(u => !before.Contains(u)))
        {
            yield return new Inferred(InferredKind.UserJoined, now, User: UserOf(now, joined));
        }

        foreach (var left in before.Where(u => !after.Contains(u)))
        {
            yield return new Inferred(InferredKind.UserLeft, now, User: UserOf(now, left));
        }
    }

    private static CallUser UserOf(CallInfo call, string uid) =>
        call.Initiator.Uid == uid ? call.Initiator : new CallUser(uid, call.Members.FirstOrDefault(m => m.Uid == uid)?.Name ?? uid);
}

internal enum InferredKind
{
    IncomingCallReceived,
    IncomingCallCanceled,
    OutgoingCallAccepted,
    ActiveCallGone,
    UserJoined,
    UserLeft,
}

/// <summary>An event the client missed, found by comparing its view with a snapshot.</summary>
internal sealed record Inferred(InferredKind Kind, CallInfo Call, CancelReason? Reason = null, CallUser? User = null, bool NeedsFinalState = false);
