using CallGrains.Abstractions;

namespace CallGrains.Grains.Calls;

/// <summary>
/// Starting a 1:1 call: reserving both users in uid order, glare, and repairing slots left behind by calls that
/// settled while their silo died; and the reservation helpers group calls share.
/// </summary>
public sealed partial class CallSessionGrain
{
    private async Task<CallResult> InitiateUserAsync(InitiateRequest request)
    {
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
            var merged = await GrainFactory.Ref<ICallSessionGrain>(glareWith).AcceptCall(request.CallerUid, request.DeviceId);
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

    private async Task<(CallResult? Result, string? GlareWith)> TryInitiateAsync(InitiateRequest request, bool repaired)
    {
        var callerUid = request.CallerUid;
        var calleeUid = request.ReceiverId;
        var timeout = request.TimeoutSeconds ?? options.Value.RingTimeoutSeconds;
        var now = time.GetUtcNow();
        var deadline = now.AddSeconds(timeout);
        var call = CallRules.NewCall(SessionId, request, timeout, now);
        var expires = deadline.AddSeconds(options.Value.StaleRingSlackSeconds);
        var callerSlot = new SlotRequest { Call = call, Role = CallRole.Caller, PeerId = calleeUid, ExpiresAt = expires };
        var calleeSlot = new SlotRequest { Call = call, Role = CallRole.Callee, PeerId = callerUid, ExpiresAt = expires, Offered = true };

        // Both users are reserved in uid order, so two calls between the same pair always meet first at the same
        // user grain: that is where glare is seen, and it is seen by exactly one of the two calls. The caller's quota is
        // taken before the callee is touched: by the caller's reservation when it comes first, else by a probe.
        Reservation callerRes;
        Reservation? calleeRes;
        if (string.CompareOrdinal(callerUid, calleeUid) < 0)
        {
            callerRes = await Reserve(callerUid, callerSlot with { Initiates = TakeInitiate() });
            calleeRes = callerRes.Outcome == ReservationOutcome.Reserved ? await Reserve(calleeUid, calleeSlot) : null;
        }
        else
        {
            if (TakeInitiate() && await Probe(callerUid, callerSlot with { Initiates = true }) is { Outcome: ReservationOutcome.Limited or ReservationOutcome.UserNotFound } refused)
            {
                callerRes = refused;
                calleeRes = null;
            }
            else
            {
                calleeRes = await Reserve(calleeUid, calleeSlot);
                callerRes = calleeRes.Outcome == ReservationOutcome.Reserved ? await Reserve(callerUid, callerSlot) : await Probe(callerUid, callerSlot);
            }
        }


        var callerHeld = callerRes.Outcome == ReservationOutcome.Reserved;
        var calleeHeld = calleeRes?.Outcome == ReservationOutcome.Reserved;
        if (callerHeld && calleeHeld)
        {
            call = call with { Initiator = callerRes.Profile! };
            state.State = state.State with { Devices = WithDevice(state.State.Devices, callerUid, request.DeviceId) };
            await CommitAsync(call, deadline, CallRules.Ring(call).Updates, callerUid);
            logger.CallInitiated(SessionId, callerUid, calleeUid, "ringing");
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
            case ReservationOutcome.Limited:
                return (InitiateQuotaReached(callerUid, callerRes), null);
            case ReservationOutcome.Glare:
                return (null, callerRes.HeldBy);
            case ReservationOutcome.UserNotFound:
                return (CallResult.Fail(CallErrorCode.UidNotFound, $"user {callerUid} does not exist"), null);
            case ReservationOutcome.Taken:
                return (CallerTaken(callerUid, callerRes), null);
        }

        // The caller is free, so the callee was asked.
        switch (calleeRes!.Outcome)
        {
            case ReservationOutcome.Glare:
                return (null, calleeRes.HeldBy);
            case ReservationOutcome.UserNotFound:
                return (CallResult.Fail(CallErrorCode.UidNotFound, $"user {calleeUid} does not exist", null, callerRes.Seq), null);
            case ReservationOutcome.Limited:
                return (CallRules.TooMany($"{calleeUid} has not answered {options.Value.MaxUnansweredFromCallerPerDay} calls from {callerUid} today; try again tomorrow", callerRes.Seq), null);
        }

        // The callee is on another call: the attempt is recorded as a busy call (the callee's missed call).
        // It never rang, so nothing is stored for it but the parties' history entries, written before the answer.
        var busy = CallRules.Busy(call with { Initiator = callerRes.Profile! }, now);
        await SettleBusyAsync(busy, callerUid);
        logger.CallInitiated(SessionId, callerUid, calleeUid, "busy");
        return (CallResult.Fail(CallErrorCode.CallBusy, $"{calleeUid} is on another call", busy, callerRes.Seq), null);
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
        var holder = GrainFactory.Ref<ICallSessionGrain>(heldBy);
        try
        {
            var held = await holder.Peek();
            if (held is not null && !held.Status.IsFinal())
            {
                return false;
            }

            // A group call's other members are repaired when they next call (or are called): not all at once here.
            foreach (var party in held is null ? [uid] : new[] { uid, held.Initiator.Uid, held.IsGroup ? uid : held.ReceiverId }.Distinct())
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

    /// <summary>Whether the initiate running now has yet to take its unit of the caller's quota; it is taken from here on.</summary>
    private bool TakeInitiate()
    {
        var first = !_initiateCounted;
        _initiateCounted = true;
        return first;
    }

    private CallResult InitiateQuotaReached(string callerUid, Reservation refused) => CallRules.TooMany(
        $"{callerUid} may start {options.Value.InitiateBurst} calls at once and {options.Value.InitiatesPerMinute} a minute; try again shortly",
        refused.Seq);

    private static CallResult CallerTaken(string callerUid, Reservation held) =>
        held is { HeldRole: CallRole.Caller, HeldPhase: not SlotPhase.Ongoing }
            ? CallResult.Fail(CallErrorCode.CallAlreadyInitiated, $"{callerUid} already has an outgoing call ringing ({held.HeldBy})", null, held.Seq)
            : CallResult.Fail(CallErrorCode.CallInProgress, $"{callerUid} is in another call ({held.HeldBy})", null, held.Seq);

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

    private Task<Reservation> Reserve(string uid, SlotRequest request) => GrainFactory.Ref<IUserSlotGrain>(uid).Reserve(request);

    private Task<Reservation> Probe(string uid, SlotRequest request) => GrainFactory.Ref<IUserSlotGrain>(uid).Probe(request);
}
