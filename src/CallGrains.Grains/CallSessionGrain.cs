using System.Collections.Immutable;
using System.Text;
using CallGrains.Abstractions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace CallGrains.Grains;

[GenerateSerializer, Immutable, Alias("cg.CallSessionState")]
public sealed record CallSessionState
{
    [Id(0)] public CallInfo? Call { get; init; }

    /// <summary>The callee of a 1:1 call.</summary>
    [Id(1)] public string? CalleeUid { get; init; }

    /// <summary>When a ringing call becomes unanswered.</summary>
    [Id(2)] public DateTimeOffset? RingDeadline { get; init; }

    /// <summary>The call has an entry in the durable ring deadline index (<see cref="IRingDeadlines"/>).</summary>
    [Id(3)] public bool Watched { get; init; }

    /// <summary>The device each participant is in the call on (the one that initiated or accepted), for signals.</summary>
    [Id(4)] public ImmutableDictionary<string, string> Devices { get; init; } = ImmutableDictionary<string, string>.Empty;
}

/// <summary>
/// One call session: the only place a call changes state. It reserves and updates the parties' user grains and
/// never the other way round. The one session → session call is glare, where a new call joins the older ringing
/// call it found in a user's slot; the older call never calls the newer one, so that edge cannot form a cycle.
/// Placed on the silo that first calls it, the caller's gateway, where the caller's user grain lives too
/// (<see cref="UserGrain"/> follows its devices): the caller's side of a call is local calls.
/// </summary>
[Orleans.Placement.PreferLocalPlacement]
public sealed class CallSessionGrain(
    [PersistentState("call", StorageNames.Default)] IPersistentState<CallSessionState> state,
    IOptions<CallOptions> options,
    IRingDeadlines deadlines,
    TimeProvider time,
    CallMetrics metrics,
    ILogger<CallSessionGrain> logger) : Grain, ICallSessionGrain
{
    // A new call that met glare retries when the call it met stopped ringing meanwhile; bounded.
    private const int MaxInitiateAttempts = 3;

    // 250 ms doubling: the last of 6 attempts comes about 8 s after the first.
    private const int MaxUpdateAttempts = 6;

    private IGrainTimer? _ringTimer;

    private string SessionId => this.GetPrimaryKeyString();

    private CallInfo? Call => state.State.Call;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        if (Call?.Status == CallStatus.Initiated && state.State.RingDeadline is { } deadline)
        {
            ArmRingTimer(deadline);
        }

        return Task.CompletedTask;
    }

    public async Task<CallResult> InitiateCall(InitiateRequest request)
    {
        if (Invalid(request) is { } invalid)
        {
            return invalid;
        }

        for (var attempt = 1; ; attempt++)
        {
            CallResult? result;
            string? glareWith;
            try
            {
                (result, glareWith) = await TryInitiateAsync(request, repaired: false);
            }
            catch when (Call is null)
            {
                // Not stored, so it never rang (the store was unreachable, a silo died mid-way): give back any slot it
                // may have taken. A release only frees a slot this call holds, so releasing both is always safe.
                state.State = new CallSessionState();
                await ReleaseQuietlyAsync(request.CallerUid, request.ReceiverId);
                throw;
            }

            if (glareWith is null)
            {
                return result!;
            }

            logger.Glare(SessionId, glareWith);
            var merged = await GrainFactory.GetGrain<ICallSessionGrain>(glareWith).AcceptCall(request.CallerUid, request.DeviceId);
            if (merged.Ok || attempt == MaxInitiateAttempts)
            {
                return merged;
            }

            if (merged.Call?.Status.IsFinal() == true)
            {
                // It stopped ringing meanwhile, or long ago with the slots left behind (stale): either way make sure
                // the parties' slots agree before trying again.
                await FreeStaleSlotsAsync(glareWith, request.CallerUid);
            }
        }
    }

    public async Task<CallResult> AcceptCall(string uid, string? deviceId)
    {
        if (await Settled(uid, CallRole.Callee) is { } settled)
        {
            return settled;
        }

        var now = time.GetUtcNow();
        var call = Call! with
        {
            Status = CallStatus.Ongoing,
            JoinedAt = now,
            Participants = [new Participant(Call!.Initiator.Uid, now, null), new Participant(uid, now, null)],
        };
        state.State = state.State with { Devices = WithDevice(state.State.Devices, uid, deviceId) };
        await SaveAsync(call);
        logger.CallSettled(SessionId, "accepted", uid);

        await UpdateAsync(call.Initiator.Uid, call, SlotPhase.Ongoing, new CallEvent { Type = CallEventType.OutgoingCallAccepted }, null);
        var seq = await UpdateAsync(uid, call, SlotPhase.Ongoing, Canceled(CancelReason.AnsweredElsewhere), deviceId);
        return CallResult.Success(call, seq);
    }

    public async Task<CallResult> RejectCall(string uid, CallStatus status, string? deviceId)
    {
        CallRole actor;
        switch (status)
        {
            case CallStatus.Rejected or CallStatus.Busy:
                actor = CallRole.Callee;
                break;
            case CallStatus.Cancelled:
                actor = CallRole.Caller;
                break;
            default:
                return CallResult.Fail(ErrorCode.BadRequest, "status must be rejected, busy or cancelled");
        }

        return await Settled(uid, actor) ?? await StopRingingAsync(uid, status, deviceId);
    }

    public async Task<CallResult> EndCall(string uid, string? deviceId)
    {
        if (Missing(uid) is { } missing)
        {
            return missing;
        }

        if (Call!.Status == CallStatus.Initiated)
        {
            // Hanging up a ringing call: the caller cancels it, the callee rejects it.
            var status = uid == Call.Initiator.Uid ? CallStatus.Cancelled : CallStatus.Rejected;
            return await RejectCall(uid, status, deviceId);
        }

        if (Call.Status != CallStatus.Ongoing)
        {
            return Failed(ErrorCodes.ForFinalStatus(Call.Status));
        }

        var now = time.GetUtcNow();
        var call = Call with
        {
            Status = CallStatus.Ended,
            EndedAt = now,
            Participants = [.. Call.Participants.Select(p => p.LeftAt is null ? p with { LeftAt = now } : p)],
        };
        await SaveAsync(call);
        logger.CallSettled(SessionId, "ended", uid);

        var ended = new CallEvent { Type = CallEventType.CallEndedMessageReceived };
        await UpdateAsync(Peer(uid), call, SlotPhase.Free, ended, null);
        var seq = await UpdateAsync(uid, call, SlotPhase.Free, ended, deviceId);
        return CallResult.Success(call, seq);
    }

    public async Task<CallResult> GetCall(string uid)
    {
        if (Missing(uid) is { } missing)
        {
            return missing;
        }

        var seq = (await GrainFactory.GetGrain<IUserGrain>(uid).GetSnapshot())?.Seq ?? 0;
        return CallResult.Success(Call!, seq);
    }

    public Task<CallInfo?> Peek() => Task.FromResult(Call);

    public async Task<CallResult> Signal(string fromUid, string toUid, string data)
    {
        if (Missing(fromUid) is { } missing)
        {
            return missing;
        }

        if (Encoding.UTF8.GetByteCount(data) > Limits.MaxSignalBytes)
        {
            return Failed(ErrorCode.BadRequest, $"signal data must be at most {Limits.MaxSignalBytes} bytes");
        }

        if (Call!.Status != CallStatus.Ongoing)
        {
            return Call.Status == CallStatus.Initiated
                ? Failed(ErrorCode.BadRequest, "signals flow once the call is ongoing")
                : Failed(ErrorCodes.ForFinalStatus(Call.Status));
        }

        if (toUid == fromUid || !IsInCall(toUid) || !IsInCall(fromUid))
        {
            return Failed(ErrorCode.PermissionDenied, $"{toUid} is not another participant of call {SessionId}");
        }

        var evt = new CallEvent { Type = CallEventType.Signal, Call = Call, From = fromUid, Data = data };
        await GrainFactory.GetGrain<IUserGrain>(toUid).Notify(evt, state.State.Devices.GetValueOrDefault(toUid));
        var seq = (await GrainFactory.GetGrain<IUserGrain>(fromUid).GetSnapshot())?.Seq ?? 0;
        return CallResult.Success(Call, seq);
    }

    public async Task<CallResult> AuthorizeMedia(string uid)
    {
        if (Missing(uid) is { } missing)
        {
            return missing;
        }

        return Call!.Status.IsLive() ? await GetCall(uid) : Failed(ErrorCodes.ForFinalStatus(Call.Status));
    }

    public async Task<CallInfo?> Reconcile(string uid)
    {
        if (Call is null || Missing(uid) is not null || Call.Status.IsFinal())
        {
            // Not a call this user is in (any more): a slot that still names it is freed. Release only frees a slot
            // that holds this session, so this cannot take anyone out of another call.
            await Release(uid, Call ?? Placeholder(uid, uid));
            if (Call is null || Call.Status.IsFinal())
            {
                // Woken only to answer this (a settled call left memory when it settled).
                this.DeactivateOnIdle();
            }
        }
        else if (Call.Status == CallStatus.Ongoing)
        {
            await UpdateAsync(uid, Call, SlotPhase.Ongoing, null, null);
        }

        return Call;
    }

    public async Task Abandon(string uid)
    {
        if (Missing(uid) is not null || Call!.Status.IsFinal())
        {
            // Settled already: make sure the user's slot agrees, since that is why the grace timer still fires.
            await Reconcile(uid);
            return;
        }

        string outcome;
        if (Call.Status == CallStatus.Ongoing)
        {
            await EndCall(uid, null);
            outcome = "ended";
        }
        else if (uid == Call.Initiator.Uid)
        {
            await StopRingingAsync(uid, CallStatus.Cancelled, null);
            outcome = "cancelled";
        }
        else
        {
            await TimeOutAsync();
            outcome = "unanswered";
        }

        logger.Abandoned(SessionId, uid, outcome);
    }

    public async Task CheckDeadline()
    {
        if (Call?.Status == CallStatus.Initiated && state.State.RingDeadline is { } deadline)
        {
            // Not due yet, the ring timer armed on activation fires at the deadline.
            if (time.GetUtcNow() >= deadline)
            {
                await TimeOutAsync();
            }

            return;
        }

        // Settled or ongoing (its removal was lost), or never stored (initiate failed after the entry was added).
        deadlines.Remove(SessionId);
        if (Call is null || Call.Status.IsFinal())
        {
            this.DeactivateOnIdle();
        }
    }

    private async Task<(CallResult? Result, string? GlareWith)> TryInitiateAsync(InitiateRequest request, bool repaired)
    {
        var callerUid = request.CallerUid;
        var calleeUid = request.ReceiverId;
        var timeout = request.TimeoutSeconds ?? options.Value.RingTimeoutSeconds;
        var now = time.GetUtcNow();
        var deadline = now.AddSeconds(timeout);
        var call = new CallInfo
        {
            SessionId = SessionId,
            CallType = request.CallType,
            ReceiverType = request.ReceiverType,
            ReceiverId = calleeUid,
            Initiator = new UserRef(callerUid, callerUid),
            Status = CallStatus.Initiated,
            InitiatedAt = now,
            Metadata = request.Metadata,
            TimeoutSeconds = timeout,
        };
        var expires = deadline.AddSeconds(options.Value.StaleRingSlackSeconds);
        var callerSlot = new SlotRequest { Call = call, Role = CallRole.Caller, PeerId = calleeUid, ExpiresAt = expires };
        var calleeSlot = new SlotRequest { Call = call, Role = CallRole.Callee, PeerId = callerUid, ExpiresAt = expires };

        // Both users are reserved in uid order, so two calls between the same pair always meet first at the same
        // user grain: that is where glare is seen, and it is seen by exactly one of the two calls.
        Reservation callerRes;
        Reservation? calleeRes;
        if (string.CompareOrdinal(callerUid, calleeUid) < 0)
        {
            callerRes = await Reserve(callerUid, callerSlot);
            calleeRes = callerRes.Outcome == ReservationOutcome.Reserved ? await Reserve(calleeUid, calleeSlot) : null;
        }
        else
        {
            calleeRes = await Reserve(calleeUid, calleeSlot);
            callerRes = calleeRes.Outcome == ReservationOutcome.Reserved ? await Reserve(callerUid, callerSlot) : await Probe(callerUid, callerSlot);
        }

        var callerHeld = callerRes.Outcome == ReservationOutcome.Reserved;
        var calleeHeld = calleeRes?.Outcome == ReservationOutcome.Reserved;
        if (callerHeld && calleeHeld)
        {
            call = call with { Initiator = callerRes.Profile! };
            if (deadlines.Durable)
            {
                // Added before the call is stored as ringing, so no stored ringing call lacks its backstop.
                await deadlines.AddAsync(SessionId, deadline);
            }

            state.State = state.State with { Devices = WithDevice(state.State.Devices, callerUid, request.DeviceId) };
            await SaveAsync(call, deadline, watched: deadlines.Durable);

            ArmRingTimer(deadline);
            logger.CallInitiated(SessionId, callerUid, calleeUid, "ringing");
            await UpdateAsync(calleeUid, call, SlotPhase.Ringing, new CallEvent { Type = CallEventType.IncomingCallReceived }, null);
            return (CallResult.Success(call, callerRes.Seq), null);
        }

        // Not ringing: give back what was taken (a probed caller holds nothing), then answer with the first
        // reason in caller-then-callee order.
        if (callerHeld)
        {
            await Release(callerUid, call);
        }

        if (calleeHeld)
        {
            await Release(calleeUid, call);
        }

        // A slot can name a call that settled: its silo died between storing the change and telling this user. Such
        // a slot is freed by that call (Reconcile), and this call tries again, once.
        if (!repaired && (await FreedStaleSlotAsync(callerUid, callerRes) | (calleeRes is not null && await FreedStaleSlotAsync(calleeUid, calleeRes))))
        {
            return await TryInitiateAsync(request, repaired: true);
        }

        switch (callerRes.Outcome)
        {
            case ReservationOutcome.Glare:
                return (null, callerRes.HeldBy);
            case ReservationOutcome.UserNotFound:
                return (CallResult.Fail(ErrorCode.UidNotFound, $"user {callerUid} does not exist"), null);
            case ReservationOutcome.Taken:
                return (CallerTaken(callerUid, callerRes), null);
        }

        // The caller is free, so the callee was asked.
        switch (calleeRes!.Outcome)
        {
            case ReservationOutcome.Glare:
                return (null, calleeRes.HeldBy);
            case ReservationOutcome.UserNotFound:
                return (CallResult.Fail(ErrorCode.UidNotFound, $"user {calleeUid} does not exist", null, callerRes.Seq), null);
        }

        // The callee is on another call: the attempt is recorded as a busy call (the callee's missed call).
        var busy = call with { Initiator = callerRes.Profile!, Status = CallStatus.Busy, EndedAt = now };
        await SaveAsync(busy);
        logger.CallInitiated(SessionId, callerUid, calleeUid, "busy");
        return (CallResult.Fail(ErrorCode.CallBusy, $"{calleeUid} is on another call", busy, callerRes.Seq), null);
    }

    /// <summary>
    /// Whether a slot this call found taken was held by a call that had settled (or never existed), and is now free
    /// (with its other party's slot). Asks the holding call, never the other way: a call that holds a slot this call
    /// found taken (not in glare) does not call this one, so this edge cannot close a cycle. A live holder costs one
    /// read; a holder that cannot answer now counts as live (the user is busy, as before).
    /// </summary>
    private async Task<bool> FreedStaleSlotAsync(string uid, Reservation reservation) =>
        reservation is { Outcome: ReservationOutcome.Taken, HeldBy: { } heldBy }
        && heldBy != SessionId
        && await FreeStaleSlotsAsync(heldBy, uid);

    /// <summary>
    /// If call <paramref name="heldBy"/> has settled (or never existed), frees the slots it may have left: that of
    /// <paramref name="uid"/> and those of its parties (a silo that died before telling the users left both behind).
    /// Returns whether it had settled.
    /// </summary>
    private async Task<bool> FreeStaleSlotsAsync(string heldBy, string uid)
    {
        var holder = GrainFactory.GetGrain<ICallSessionGrain>(heldBy);
        try
        {
            var held = await holder.Peek();
            if (held is not null && !held.Status.IsFinal())
            {
                return false;
            }

            foreach (var party in held is null ? [uid] : new[] { uid, held.Initiator.Uid, held.ReceiverId }.Distinct())
            {
                await holder.Reconcile(party);
            }

            logger.StaleSlotRepaired(SessionId, uid, heldBy);
            return true;
        }
        catch (Exception ex) when (ex is not ArgumentException)
        {
            logger.StaleSlotCheckFailed(ex, SessionId, heldBy);
            return false;
        }
    }

    private static CallResult CallerTaken(string callerUid, Reservation held) =>
        held is { HeldRole: CallRole.Caller, HeldPhase: not SlotPhase.Ongoing }
            ? CallResult.Fail(ErrorCode.CallAlreadyInitiated, $"{callerUid} already has an outgoing call ringing ({held.HeldBy})", null, held.Seq)
            : CallResult.Fail(ErrorCode.CallInProgress, $"{callerUid} is in another call ({held.HeldBy})", null, held.Seq);

    /// <summary>A stand-in for a call that was never stored, enough for a user grain to release the slot it names.</summary>
    private CallInfo Placeholder(string callerUid, string receiverUid) => new()
    {
        SessionId = SessionId,
        CallType = CallType.Audio,
        ReceiverType = ReceiverType.User,
        ReceiverId = receiverUid,
        Initiator = new UserRef(callerUid, callerUid),
        Status = CallStatus.Cancelled,
        InitiatedAt = time.GetUtcNow(),
    };

    private async Task ReleaseQuietlyAsync(params string[] uids)
    {
        var call = Placeholder(uids[0], uids[^1]);
        foreach (var uid in uids)
        {
            try
            {
                await Release(uid, call);
            }
            catch (Exception ex) when (ex is not ArgumentException)
            {
                // Left to the slot's own expiry (ring deadline + StaleRingSlackSeconds).
                logger.UpdateRetry(ex, SessionId, uid, MaxUpdateAttempts);
            }
        }
    }

    private async Task<CallResult> StopRingingAsync(string uid, CallStatus status, string? deviceId)
    {
        var call = Call! with { Status = status, EndedAt = time.GetUtcNow() };
        await SaveAsync(call);
        logger.CallSettled(SessionId, status.ToString(), uid);

        var callerUid = call.Initiator.Uid;
        var calleeUid = state.State.CalleeUid!;
        long seq;
        if (status == CallStatus.Cancelled)
        {
            await UpdateAsync(calleeUid, call, SlotPhase.Free, Canceled(CancelReason.Cancelled), null);
            seq = await UpdateAsync(callerUid, call, SlotPhase.Free, null, deviceId);
        }
        else
        {
            await UpdateAsync(callerUid, call, SlotPhase.Free, new CallEvent { Type = CallEventType.OutgoingCallRejected }, null);
            seq = await UpdateAsync(calleeUid, call, SlotPhase.Free, Canceled(CancelReason.RejectedElsewhere), deviceId);
        }

        return CallResult.Success(call, seq);
    }

    private async Task TimeOutAsync()
    {
        var call = Call! with { Status = CallStatus.Unanswered, EndedAt = time.GetUtcNow() };
        await SaveAsync(call);
        logger.CallUnanswered(SessionId, call.TimeoutSeconds);
        await UpdateAsync(call.Initiator.Uid, call, SlotPhase.Free, new CallEvent { Type = CallEventType.OutgoingCallRejected }, null);
        await UpdateAsync(state.State.CalleeUid!, call, SlotPhase.Free, Canceled(CancelReason.Unanswered), null);
    }

    /// <summary>
    /// The answer for a request on this call by <paramref name="uid"/> acting as <paramref name="role"/>, when the
    /// call is not ringing for it (null when it is): not found, permission denied, or the state the call is in.
    /// </summary>
    private async Task<CallResult?> Settled(string uid, CallRole role)
    {
        if (Missing(uid) is { } missing)
        {
            return missing;
        }

        var allowed = role == CallRole.Caller ? Call!.Initiator.Uid : state.State.CalleeUid;
        if (uid != allowed)
        {
            return Failed(ErrorCode.PermissionDenied, role == CallRole.Caller ? "only the caller may cancel" : "only the callee may answer");
        }

        if (Call!.Status == CallStatus.Initiated && state.State.RingDeadline is { } deadline && time.GetUtcNow() >= deadline)
        {
            // The timer is late (a busy or restarted silo): the deadline decides, not who asked first.
            await TimeOutAsync();
        }

        return Call!.Status == CallStatus.Initiated ? null : Failed(ErrorCodes.ForFinalStatus(Call.Status));
    }

    /// <summary>Not found, or not a party: the checks every request on an existing call starts with.</summary>
    private CallResult? Missing(string uid)
    {
        if (!Identifiers.IsValidSessionId(SessionId))
        {
            return CallResult.Fail(ErrorCode.InvalidSessionId, "session id must be 1-128 characters of [A-Za-z0-9._:-]");
        }

        if (Call is null)
        {
            return CallResult.Fail(ErrorCode.CallNotFound, $"no call {SessionId}");
        }

        return uid == Call.Initiator.Uid || uid == state.State.CalleeUid
            ? null
            : CallResult.Fail(ErrorCode.PermissionDenied, $"{uid} is not a party of call {SessionId}");
    }

    private CallResult Failed(ErrorCode code, string? message = null) =>
        CallResult.Fail(code, message ?? $"call {SessionId} is {Call!.Status.ToString().ToLowerInvariant()}", Call);

    private CallResult? Invalid(InitiateRequest request)
    {
        if (!Identifiers.IsValidSessionId(SessionId))
        {
            return CallResult.Fail(ErrorCode.InvalidSessionId, "session id must be 1-128 characters of [A-Za-z0-9._:-]");
        }

        if (Call is not null)
        {
            return CallResult.Fail(ErrorCode.BadRequest, $"session id {SessionId} is already in use");
        }

        if (request.ReceiverType == ReceiverType.Group)
        {
            return CallResult.Fail(ErrorCode.BadRequest, "group calls are not supported yet");
        }

        if (!Enum.IsDefined(request.CallType) || !Enum.IsDefined(request.ReceiverType))
        {
            return CallResult.Fail(ErrorCode.BadRequest, "callType must be audio or video, receiverType user or group");
        }

        if (!Identifiers.IsValidUid(request.CallerUid) || !Identifiers.IsValidUid(request.ReceiverId))
        {
            return CallResult.Fail(ErrorCode.BadRequest, "receiverId must be 1-100 characters of [A-Za-z0-9_-]");
        }

        if (request.TimeoutSeconds is < Limits.MinTimeoutSeconds or > Limits.MaxTimeoutSeconds)
        {
            return CallResult.Fail(ErrorCode.BadRequest, $"timeoutSeconds must be {Limits.MinTimeoutSeconds}-{Limits.MaxTimeoutSeconds}");
        }

        if (request.Metadata is { } metadata && Encoding.UTF8.GetByteCount(metadata) > Limits.MaxMetadataBytes)
        {
            return CallResult.Fail(ErrorCode.BadRequest, $"metadata must be at most {Limits.MaxMetadataBytes} bytes");
        }

        return request.CallerUid == request.ReceiverId
            ? CallResult.Fail(ErrorCode.CallingSelf, "a user cannot call themselves")
            : null;
    }

    private bool IsInCall(string uid) => Call!.Participants.Any(p => p.Uid == uid && p.LeftAt is null);

    private static ImmutableDictionary<string, string> WithDevice(ImmutableDictionary<string, string> devices, string uid, string? deviceId) =>
        deviceId is null ? devices.Remove(uid) : devices.SetItem(uid, deviceId);

    private string Peer(string uid) => uid == Call!.Initiator.Uid ? state.State.CalleeUid! : Call.Initiator.Uid;

    private static CallEvent Canceled(CancelReason reason) => new() { Type = CallEventType.IncomingCallCanceled, Reason = reason };

    private async Task SaveAsync(CallInfo call, DateTimeOffset? deadline = null, bool watched = false)
    {
        var ringing = call.Status == CallStatus.Initiated;
        var unwatch = !ringing && state.State.Watched;
        var settles = call.Status.IsFinal() && state.State.Call?.Status.IsFinal() != true;
        var previous = state.State;
        state.State = state.State with
        {
            Call = call,
            CalleeUid = call.ReceiverType == ReceiverType.User ? call.ReceiverId : state.State.CalleeUid,
            RingDeadline = ringing ? deadline ?? state.State.RingDeadline : null,
            Watched = ringing && (watched || state.State.Watched),
        };
        try
        {
            await state.WriteStateAsync();
        }
        catch
        {
            // Not stored, so not done: forget the change here too, and reload from storage on the next request.
            state.State = previous;
            this.DeactivateOnIdle();
            throw;
        }

        if (settles)
        {
            metrics.Settled(call.Status);

            // A settled call only answers reads from now on: its activation goes once this request is done, so
            // ended calls do not pile up in memory at thousands of calls a second; a late request reloads it.
            this.DeactivateOnIdle();
        }

        if (!ringing)
        {
            _ringTimer?.Dispose();
            _ringTimer = null;
            if (unwatch)
            {
                // Best effort: an entry left behind is swept and dropped when the call finds itself settled.
                deadlines.Remove(SessionId);
            }
        }
    }

    private void ArmRingTimer(DateTimeOffset deadline)
    {
        _ringTimer?.Dispose();
        var due = deadline - time.GetUtcNow();
        _ringTimer = this.RegisterGrainTimer(
            async _ =>
            {
                if (Call?.Status == CallStatus.Initiated)
                {
                    await TimeOutAsync();
                }
            },
            new GrainTimerCreationOptions(due < TimeSpan.Zero ? TimeSpan.Zero : due, Timeout.InfiniteTimeSpan) { KeepAlive = true });
    }

    private Task<Reservation> Reserve(string uid, SlotRequest request) => GrainFactory.GetGrain<IUserGrain>(uid).Reserve(request);

    private Task<Reservation> Probe(string uid, SlotRequest request) => GrainFactory.GetGrain<IUserGrain>(uid).Probe(request);

    private Task<long> Release(string uid, CallInfo call) => UpdateAsync(uid, call, SlotPhase.Free, null, null);

    /// <summary>
    /// Tells a party's user grain what the stored call now is. The call's state is already stored, so the user must
    /// follow: a failure (the store briefly unreachable, a silo dying) is retried for a few seconds before it is
    /// given up, and a ringing slot left behind expires on its own (<see cref="CallOptions.StaleRingSlackSeconds"/>).
    /// </summary>
    private async Task<long> UpdateAsync(string uid, CallInfo call, SlotPhase phase, CallEvent? evt, string? exceptDeviceId)
    {
        var update = new SlotUpdate { Call = call, Phase = phase, Event = evt, ExceptDeviceId = exceptDeviceId };
        var delay = TimeSpan.FromMilliseconds(250);
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await GrainFactory.GetGrain<IUserGrain>(uid).Update(update);
            }
            catch (Exception ex) when (attempt < MaxUpdateAttempts && ex is not ArgumentException)
            {
                logger.UpdateRetry(ex, SessionId, uid, attempt);
                await Task.Delay(delay);
                delay *= 2;
            }
        }
    }
}
