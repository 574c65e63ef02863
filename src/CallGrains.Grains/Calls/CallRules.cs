using System.Text;
using CallGrains.Abstractions;

namespace CallGrains.Grains.Calls;

/// <summary>
/// The rules of a 1:1 call (PROTOCOL sections 6 and 7), with no storage, timers or messages: given the call and a
/// command, the new call and the updates to send, or the error. <see cref="CallSessionGrain"/> stores and delivers what
/// these decide; the model-based test's reference model decides with them too.
/// </summary>
public static class CallRules
{
    /// <summary>Whether a new call may be initiated with this id and request (a stored call under the id: in use).</summary>
    public static CallResult? RefuseInitiate(string sessionId, InitiateRequest request, bool idInUse)
    {
        if (!Identifiers.IsValidSessionId(sessionId))
        {
            return InvalidSessionId();
        }

        if (idInUse)
        {
            return CallResult.Fail(CallErrorCode.BadRequest, $"session id {sessionId} is already in use");
        }

        if (!Enum.IsDefined(request.CallType) || !Enum.IsDefined(request.ReceiverType))
        {
            return CallResult.Fail(CallErrorCode.BadRequest, "callType must be audio or video, receiverType user or group");
        }

        if (!Identifiers.IsValidUid(request.CallerUid) || !Identifiers.IsValidUid(request.ReceiverId))
        {
            return CallResult.Fail(CallErrorCode.BadRequest, "receiverId must be 1-100 characters of [A-Za-z0-9_-]");
        }

        if (request.TimeoutSeconds is < Limits.MinTimeoutSeconds or > Limits.MaxTimeoutSeconds)
        {
            return CallResult.Fail(CallErrorCode.BadRequest, $"timeoutSeconds must be {Limits.MinTimeoutSeconds}-{Limits.MaxTimeoutSeconds}");
        }

        if (request.Metadata is { } metadata && Encoding.UTF8.GetByteCount(metadata) > Limits.MaxMetadataBytes)
        {
            return CallResult.Fail(CallErrorCode.BadRequest, $"metadata must be at most {Limits.MaxMetadataBytes} bytes");
        }

        return request.CallerUid == request.ReceiverId && request.ReceiverType == ReceiverType.User
            ? CallResult.Fail(CallErrorCode.CallingSelf, "a user cannot call themselves")
            : null;
    }

    /// <summary>The call a request starts, before anyone is reserved (the caller's profile is filled in then).</summary>
    public static CallInfo NewCall(string sessionId, InitiateRequest request, int timeoutSeconds, DateTimeOffset now) => new()
    {
        SessionId = sessionId,
        CallType = request.CallType,
        ReceiverType = request.ReceiverType,
        ReceiverId = request.ReceiverId,
        Initiator = new UserRef(request.CallerUid, request.CallerUid),
        Status = CallStatus.Initiated,
        InitiatedAt = now,
        Metadata = request.Metadata,
        TimeoutSeconds = timeoutSeconds,
    };

    /// <summary>Whether the call rings for someone: a 1:1 call while initiated, a group call while a member rings.</summary>
    public static bool Rings(CallInfo call) => call.Status == CallStatus.Initiated;

    /// <summary>A 1:1 party's slot is restated only once the call is ongoing; a ringing slot lapses by its own expiry.</summary>
    public static SlotPhase? PhaseOf(CallInfo call) => call.Status == CallStatus.Ongoing ? SlotPhase.Ongoing : null;

    /// <summary>Both parties reserved: the callee's devices ring.</summary>
    public static Decision Ring(CallInfo call) => new()
    {
        Next = call,
        Updates = [new PartyUpdate(call.ReceiverId, SlotPhase.Ringing, Event(CallEventType.IncomingCallReceived))],
    };

    /// <summary>
    /// The callee is in another call: the attempt settles as busy at once (the callee's missed call). Its record keeps no
    /// metadata: a call that never rang puts no caller-chosen bytes into anyone's history.
    /// </summary>
    public static CallInfo Busy(CallInfo call, DateTimeOffset now) => call with { Status = CallStatus.Busy, EndedAt = now, Metadata = null };

    /// <summary>An initiate refused by a quota (nothing was stored, rung or logged for it).</summary>
    public static CallResult TooMany(string message, long seq = 0) => CallResult.Fail(CallErrorCode.TooManyRequests, message, null, seq);

    /// <summary>Not found, or not a party: the checks every request on an existing call starts with.</summary>
    public static CallResult? RefuseStranger(string sessionId, CallView? view, string uid)
    {
        if (!Identifiers.IsValidSessionId(sessionId))
        {
            return InvalidSessionId();
        }

        if (view is null)
        {
            return CallResult.Fail(CallErrorCode.CallNotFound, $"no call {sessionId}");
        }

        return view.IsParty(uid) ? null : CallResult.Fail(CallErrorCode.PermissionDenied, $"{uid} is not a party of call {sessionId}");
    }

    public static Decision Accept(CallView view, string uid, string? deviceId, DateTimeOffset now)
    {
        if (Unsettled(view, uid, CallRole.Callee, now) is { } settled)
        {
            return settled;
        }

        var call = view.Call with
        {
            Status = CallStatus.Ongoing,
            JoinedAt = now,
            Participants = [new Participant(view.Call.Initiator.Uid, now, null), new Participant(uid, now, null)],
        };
        return Transition(
            call,
            "accepted",
            new PartyUpdate(call.Initiator.Uid, SlotPhase.Ongoing, Event(CallEventType.OutgoingCallAccepted)),
            new PartyUpdate(uid, SlotPhase.Ongoing, Canceled(CancelReason.AnsweredElsewhere), deviceId));
    }

    /// <summary><paramref name="status"/>: rejected or busy by the callee, cancelled by the caller.</summary>
    public static Decision Reject(CallView view, string uid, CallStatus status, string? deviceId, DateTimeOffset now)
    {
        if (RefuseRejectStatus(status) is { } refused)
        {
            return Decision.Refuse(refused);
        }

        var actor = status == CallStatus.Cancelled ? CallRole.Caller : CallRole.Callee;
        return Unsettled(view, uid, actor, now) ?? StopRinging(view, uid, status, deviceId, now);
    }

    /// <summary>A reject names rejected or busy (by the callee) or cancelled (by the caller); anything else is a bad request.</summary>
    public static CallResult? RefuseRejectStatus(CallStatus status) =>
        status is CallStatus.Rejected or CallStatus.Busy or CallStatus.Cancelled
            ? null
            : CallResult.Fail(CallErrorCode.BadRequest, "status must be rejected, busy or cancelled");

    /// <summary>Hanging up: ends an ongoing call; on a ringing one the caller cancels and the callee rejects.</summary>
    public static Decision End(CallView view, string uid, string? deviceId, DateTimeOffset now)
    {
        if (RefuseStranger(view.SessionId, view, uid) is { } stranger)
        {
            return Decision.Refuse(stranger);
        }

        if (view.Call.Status == CallStatus.Initiated)
        {
            return Reject(view, uid, uid == view.Call.Initiator.Uid ? CallStatus.Cancelled : CallStatus.Rejected, deviceId, now);
        }

        if (view.Call.Status != CallStatus.Ongoing)
        {
            return Decision.Refuse(Refused(view.Call, ErrorCodes.ForFinalStatus(view.Call.Status)));
        }

        var call = view.Call with
        {
            Status = CallStatus.Ended,
            EndedAt = now,
            Participants = [.. view.Call.Participants.Select(p => p.LeftAt is null ? p with { LeftAt = now } : p)],
        };
        var ended = Event(CallEventType.CallEndedMessageReceived);
        return Transition(call, "ended", new PartyUpdate(view.Peer(uid), SlotPhase.Free, ended), new PartyUpdate(uid, SlotPhase.Free, ended, deviceId));
    }

    /// <summary>Nobody answered in time: unanswered for both.</summary>
    public static Decision TimeOut(CallView view, DateTimeOffset now)
    {
        var call = view.Call with { Status = CallStatus.Unanswered, EndedAt = now };
        return Transition(
            call,
            "unanswered",
            new PartyUpdate(call.Initiator.Uid, SlotPhase.Free, Event(CallEventType.OutgoingCallRejected)),
            new PartyUpdate(view.Callee, SlotPhase.Free, Canceled(CancelReason.Unanswered)));
    }

    /// <summary>
    /// A party has had no device for the disconnect grace: an ongoing call ends, a vanished caller's ringing call is
    /// cancelled, a vanished callee's is unanswered. Allowed and no change for a call that is settled or not theirs.
    /// </summary>
    public static Decision Abandon(CallView view, string uid, DateTimeOffset now) => view switch
    {
        _ when !view.IsParty(uid) || view.Call.Status.IsFinal() => Decision.Allowed,
        { Call.Status: CallStatus.Ongoing } => End(view, uid, null, now),
        _ when uid == view.Call.Initiator.Uid => StopRinging(view, uid, CallStatus.Cancelled, null, now),
        _ => TimeOut(view, now),
    };

    /// <summary>Whether <paramref name="fromUid"/> may send <paramref name="dataBytes"/> of signal to <paramref name="toUid"/>.</summary>
    public static CallResult? RefuseSignal(CallView view, string fromUid, string toUid, int dataBytes)
    {
        if (dataBytes > Limits.MaxSignalBytes)
        {
            return Refused(view.Call, CallErrorCode.BadRequest, $"signal data must be at most {Limits.MaxSignalBytes} bytes");
        }

        if (view.Call.Status != CallStatus.Ongoing)
        {
            return view.Call.Status == CallStatus.Initiated
                ? Refused(view.Call, CallErrorCode.BadRequest, "signals flow once the call is ongoing")
                : Refused(view.Call, ErrorCodes.ForFinalStatus(view.Call.Status));
        }

        return toUid == fromUid || !InCall(view.Call, toUid) || !InCall(view.Call, fromUid)
            ? Refused(view.Call, CallErrorCode.PermissionDenied, $"{toUid} is not another participant of call {view.SessionId}")
            : null;
    }

    /// <summary>
    /// A media token is for someone in a live call now (PROTOCOL section 4): a 1:1 call's caller or callee; in a group
    /// call a participant who has not left, or a member it rings. Members who rejected, left, were busy, stopped ringing
    /// or were removed from the group are refused. The asker is a party (checked first), so the call's state is theirs
    /// to know.
    /// </summary>
    public static CallResult? RefuseMedia(CallView view, string uid)
    {
        var call = view.Call;
        if (!call.Status.IsLive())
        {
            return Refused(call, ErrorCodes.ForFinalStatus(call.Status));
        }

        return !call.IsGroup || call.IsPresent(uid) || call.MemberStatusOf(uid) == MemberStatus.Ringing
            ? null
            : Refused(call, CallErrorCode.PermissionDenied, $"{uid} is not in call {call.SessionId} now");
    }

    /// <summary>
    /// The failure of a request on <paramref name="call"/>, with the call attached (not to a refusal for permission:
    /// <see cref="CallResult.Fail"/>); by default named by its status.
    /// </summary>
    public static CallResult Refused(CallInfo call, CallErrorCode code, string? message = null) =>
        CallResult.Fail(code, message ?? $"call {call.SessionId} is {call.Status.ToString().ToLowerInvariant()}", call);

    /// <summary>
    /// Null when the call rings for <paramref name="uid"/> acting as <paramref name="role"/>; otherwise the answer: not
    /// found, permission denied, or the state the call is in. A call past its ring deadline times out first (the
    /// deadline decides, not who asked first), and the asker is told it is unanswered.
    /// </summary>
    private static Decision? Unsettled(CallView view, string uid, CallRole role, DateTimeOffset now)
    {
        if (RefuseStranger(view.SessionId, view, uid) is { } stranger)
        {
            return Decision.Refuse(stranger);
        }

        var allowed = role == CallRole.Caller ? view.Call.Initiator.Uid : view.Callee;
        if (uid != allowed)
        {
            return Decision.Refuse(Refused(view.Call, CallErrorCode.PermissionDenied, role == CallRole.Caller ? "only the caller may cancel" : "only the callee may answer"));
        }

        if (view.RingsPast(now))
        {
            var timedOut = TimeOut(view, now);
            return timedOut with { Refusal = Refused(timedOut.Next!, CallErrorCode.CallUnanswered) };
        }

        return view.Call.Status == CallStatus.Initiated ? null : Decision.Refuse(Refused(view.Call, ErrorCodes.ForFinalStatus(view.Call.Status)));
    }

    private static Decision StopRinging(CallView view, string uid, CallStatus status, string? deviceId, DateTimeOffset now)
    {
        // A callee who turned it down declined it: not a missed call in their history.
        var call = view.Call with
        {
            Status = status,
            EndedAt = now,
            Declined = status == CallStatus.Cancelled ? view.Call.Declined : view.Call.Declined.Add(uid),
        };
        var outcome = status.ToString();
        return status == CallStatus.Cancelled
            ? Transition(
                call,
                outcome,
                new PartyUpdate(view.Callee, SlotPhase.Free, Canceled(CancelReason.Cancelled)),
                new PartyUpdate(call.Initiator.Uid, SlotPhase.Free, null, deviceId))
            : Transition(
                call,
                outcome,
                new PartyUpdate(call.Initiator.Uid, SlotPhase.Free, Event(CallEventType.OutgoingCallRejected)),
                new PartyUpdate(view.Callee, SlotPhase.Free, Canceled(CancelReason.RejectedElsewhere), deviceId));
    }

    private static Decision Transition(CallInfo next, string outcome, params PartyUpdate[] updates) =>
        new() { Next = next, Outcome = outcome, Updates = [.. updates] };

    private static bool InCall(CallInfo call, string uid) => call.Participants.Any(p => p.Uid == uid && p.LeftAt is null);

    private static CallEvent Event(CallEventType type) => new() { Type = type };

    private static CallEvent Canceled(CancelReason reason) => new() { Type = CallEventType.IncomingCallCanceled, Reason = reason };

    private static CallResult InvalidSessionId() =>
        CallResult.Fail(CallErrorCode.InvalidSessionId, "session id must be 1-128 characters of [A-Za-z0-9._:-]");
}
