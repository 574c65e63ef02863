using System.Collections.Immutable;
using CallGrains.Abstractions;

namespace CallGrains.Grains.Calls;

/// <summary>
/// Group calls: starting one (claim the group's one live call, reserve the initiator, ring the members in parallel)
/// and joining or leaving one. What each command does is decided by <see cref="GroupCallRules"/>.
/// </summary>
public sealed partial class CallSessionGrain
{
    public async Task<CallResult> JoinCall(string uid, string? deviceId)
    {
        if (await MissingGroupCallAsync(uid) is { } missing)
        {
            return missing;
        }

        await CatchUpAsync();
        var call = Call!;
        if (call.MemberStatusOf(uid) == MemberStatus.Ringing)
        {
            return await AcceptCall(uid, deviceId);
        }

        // Asked before anything about the call is told: a live call is for the group's members now, a settled one
        // answers its parties only. Anyone else learns nothing, not even whether it has settled (PROTOCOL section 6).
        if (!call.IsPresent(uid) && (call.Status.IsFinal() ? !IsParty(uid) : !await IsGroupMemberAsync(call.ReceiverId, uid)))
        {
            return CallResult.Fail(CallErrorCode.PermissionDenied, $"{uid} may not join call {SessionId}");
        }

        if (call.Status.IsFinal() || call.IsPresent(uid))
        {
            return await ApplyAsync(GroupCallRules.Join(View!, GroupCallRules.RefOf(call, uid), deviceId, time.GetUtcNow()), uid);
        }

        var slot = new SlotRequest
        {
            Call = call,
            Role = uid == call.Initiator.Uid ? CallRole.Caller : CallRole.Callee,
            PeerId = uid == call.Initiator.Uid ? call.ReceiverId : call.Initiator.Uid,
            ExpiresAt = time.GetUtcNow().AddSeconds(options.Value.StaleRingSlackSeconds),
        };
        var reserved = await Reserve(uid, slot);
        if (await FreedStaleSlotAsync(uid, reserved))
        {
            reserved = await Reserve(uid, slot);
        }

        if (reserved.Outcome != ReservationOutcome.Reserved)
        {
            return reserved.Outcome == ReservationOutcome.UserNotFound
                ? CallResult.Fail(CallErrorCode.UidNotFound, $"user {uid} does not exist")
                : CallerTaken(uid, reserved) with { Call = call };
        }

        var decision = GroupCallRules.Join(View!, reserved.Profile!, deviceId, time.GetUtcNow());
        if (decision.Refusal is not null)
        {
            await Release(uid, call);
            return decision.Refusal;
        }

        state.State = state.State with { Devices = WithDevice(state.State.Devices, uid, deviceId) };
        return await ApplyAsync(decision, uid);
    }

    public async Task<CallResult> LeaveCall(string uid, string? deviceId)
    {
        if (await MissingGroupCallAsync(uid) is { } missing)
        {
            return missing;
        }

        await CatchUpAsync();
        return await ApplyAsync(GroupCallRules.Leave(View!, uid, deviceId, time.GetUtcNow()), uid);
    }

    public async Task StopRingingFor(ImmutableArray<string> uids)
    {
        if (Call is not { IsGroup: true } || Call.Status.IsFinal())
        {
            LeaveIfNotLive();
            return;
        }

        await CatchUpAsync();
        await ApplyAsync(GroupCallRules.StopRingingFor(View!, uids, time.GetUtcNow()), Call.Initiator.Uid);
    }

    private async Task<bool> IsGroupMemberAsync(string groupId, string uid) =>
        await GrainFactory.Ref<IGroupGrain>(groupId).GetGroup() is { } group && group.Members.Contains(uid);

    /// <summary>
    /// Join and leave are for group calls: no call is refused, and a 1:1 call too (its parties are told why, anyone else
    /// only that they may not: what kind of call it is is the parties' to know).
    /// </summary>
    private async Task<CallResult?> MissingGroupCallAsync(string uid)
    {
        if (!Identifiers.IsValidSessionId(SessionId))
        {
            return CallRules.RefuseStranger(SessionId, null, "");
        }

        await LoadArchivedAsync();
        LeaveIfNotLive();
        return Call switch
        {
            null => CallResult.Fail(CallErrorCode.CallNotFound, $"no call {SessionId}"),
            { IsGroup: false } => CallRules.RefuseStranger(SessionId, View, uid)
                ?? CallResult.Fail(CallErrorCode.BadRequest, "joinCall and leaveCall are for group calls; a 1:1 call ends with endCall"),
            _ => null,
        };
    }

    /// <summary>
    /// Starts a group call: the caller must be a member and the group free of another live call (else ERR_CALL_BUSY with
    /// that call, to join it instead). The first <see cref="CallOptions.MaxGroupRing"/> other members are reserved all
    /// at once; those on another call are listed busy and not disturbed, the rest ring. Nobody to ring: a busy call.
    /// </summary>
    private async Task<CallResult> InitiateGroupAsync(InitiateRequest request)
    {
        var callerUid = request.CallerUid;

        // The caller's quota first: a refused initiate claims no group and reserves no one.
        var quota = await Probe(callerUid, new SlotRequest
        {
            Call = _initiating!,
            Role = CallRole.Caller,
            PeerId = request.ReceiverId,
            ExpiresAt = time.GetUtcNow(),
            Initiates = TakeInitiate(),
        });
        if (quota.Outcome is ReservationOutcome.Limited or ReservationOutcome.UserNotFound)
        {
            return quota.Outcome == ReservationOutcome.Limited
                ? InitiateQuotaReached(callerUid, quota)
                : CallResult.Fail(CallErrorCode.UidNotFound, $"user {callerUid} does not exist");
        }

        var group = GrainFactory.Ref<IGroupGrain>(request.ReceiverId);
        var claim = await ClaimGroupAsync(group, callerUid);
        if (claim.Refusal is { } refused)
        {
            return refused;
        }

        var timeout = request.TimeoutSeconds ?? options.Value.RingTimeoutSeconds;
        var now = time.GetUtcNow();
        var deadline = now.AddSeconds(timeout);
        var call = CallRules.NewCall(SessionId, request, timeout, now);
        var expires = deadline.AddSeconds(options.Value.StaleRingSlackSeconds);
        var others = claim.Members.Where(m => m != callerUid).Take(options.Value.MaxGroupRing).ToList();
        var reserved = new List<string>();
        try
        {
            var callerSlot = new SlotRequest { Call = call, Role = CallRole.Caller, PeerId = request.ReceiverId, ExpiresAt = expires };
            var caller = await Reserve(callerUid, callerSlot);
            if (await FreedStaleSlotAsync(callerUid, caller))
            {
                caller = await Reserve(callerUid, callerSlot);
            }

            if (caller.Outcome != ReservationOutcome.Reserved)
            {
                await ReleaseGroupAsync(request.ReceiverId, unused: true);
                return caller.Outcome == ReservationOutcome.UserNotFound
                    ? CallResult.Fail(CallErrorCode.UidNotFound, $"user {callerUid} does not exist")
                    : CallerTaken(callerUid, caller);
            }

            reserved.Add(callerUid);
            var memberSlot = new SlotRequest { Call = call, Role = CallRole.Callee, PeerId = callerUid, ExpiresAt = expires, Offered = true };
            var answers = await Task.WhenAll(others.Select(uid => ReserveMemberAsync(uid, memberSlot)));
            var members = answers.Where(a => a.Member is not null).Select(a => a.Member!).ToList();
            reserved.AddRange(members.Where(m => m.Status == MemberStatus.Ringing).Select(m => m.Uid));
            call = GroupCallRules.Start(call, caller.Profile!, members, now);
            if (reserved.Count == 1)
            {
                // Nobody to ring: every member is on another call (their missed call), or the group has no one else.
                await Release(callerUid, call);
                await ReleaseGroupAsync(request.ReceiverId);
                if (members.Count == 0 && answers.Any(a => a.Limited))
                {
                    return CallRules.TooMany($"the members of group {request.ReceiverId} have not answered {options.Value.MaxUnansweredFromCallerPerDay} calls from {callerUid} today", caller.Seq);
                }

                if (members.Count == 0)
                {
                    return CallResult.Fail(CallErrorCode.BadRequest, $"group {request.ReceiverId} has no other member to call", null, caller.Seq);
                }

                var busy = CallRules.Busy(call, now) with { Participants = [] };
                await SettleBusyAsync(busy, callerUid);
                logger.CallInitiated(SessionId, callerUid, request.ReceiverId, "busy");
                return CallResult.Fail(CallErrorCode.CallBusy, $"every member of group {request.ReceiverId} is on another call", busy, caller.Seq);
            }

            state.State = state.State with { Devices = WithDevice(state.State.Devices, callerUid, request.DeviceId) };
            await CommitAsync(call, deadline, GroupCallRules.Ring(call).Updates, callerUid);
            logger.CallInitiated(SessionId, callerUid, request.ReceiverId, $"ringing {reserved.Count - 1}");
            return CallResult.Success(call, caller.Seq);
        }
        catch when (Call is null)
        {
            // Not stored, so it never rang: give back every slot it may have taken, and the group.
            state.State = new CallSessionState();
            await ReleaseQuietlyAsync([callerUid, .. others]);
            await ReleaseGroupAsync(request.ReceiverId);
            throw;
        }
    }

    /// <summary>Claims the group for this call; a live call found there answers busy, one found settled is taken over.</summary>
    private async Task<(CallResult? Refusal, IReadOnlyList<string> Members)> ClaimGroupAsync(IGroupGrain group, string callerUid)
    {
        var claim = await group.ClaimCall(SessionId, callerUid, null);
        if (claim is { Outcome: GroupCallOutcome.Busy, HeldBy: { } heldBy })
        {
            // Asked once that call's own initiate has finished: one still being set up may yet fail (its caller busy),
            // and a busy answer must not name a call that never rang. This call holds no slot yet, so waiting is safe.
            var held = await GrainFactory.Ref<ICallSessionGrain>(heldBy).PeekAfterInitiate();
            if (held is not null && held.Status.IsLive())
            {
                return (CallResult.Fail(CallErrorCode.CallBusy, $"group {group.GetPrimaryKeyString()} has a call already; join it", held), []);
            }

            claim = await group.ClaimCall(SessionId, callerUid, heldBy);
        }

        return claim.Outcome switch
        {
            GroupCallOutcome.Claimed => (null, claim.Members),
            GroupCallOutcome.NotFound => (CallResult.Fail(CallErrorCode.GuidNotFound, $"group {group.GetPrimaryKeyString()} does not exist"), []),
            GroupCallOutcome.NotMember => (CallResult.Fail(CallErrorCode.PermissionDenied, $"{callerUid} is not a member of group {group.GetPrimaryKeyString()}"), []),
            GroupCallOutcome.Limited => (CallRules.TooMany($"calls start in group {group.GetPrimaryKeyString()} at most {options.Value.GroupCallBurst} at once and {options.Value.GroupCallsPerMinute} a minute; try again shortly"), []),
            _ => (CallResult.Fail(CallErrorCode.CallBusy, $"group {group.GetPrimaryKeyString()} has a call already; join it"), []),
        };
    }

    /// <summary>
    /// A member's slot for the call: ringing when free, busy when on another call; left out when no such user, or when
    /// the member has not answered <see cref="CallOptions.MaxUnansweredFromCallerPerDay"/> calls from this caller today
    /// (not rung, nothing in their history; they may still join).
    /// </summary>
    private async Task<(CallMember? Member, long Seq, bool Limited)> ReserveMemberAsync(string uid, SlotRequest slot)
    {
        var answer = await Reserve(uid, slot);
        if (await FreedStaleSlotAsync(uid, answer))
        {
            answer = await Reserve(uid, slot);
        }

        return answer.Outcome switch
        {
            ReservationOutcome.Reserved => (new CallMember(uid, answer.Profile!.Name, MemberStatus.Ringing), answer.Seq, false),
            ReservationOutcome.UserNotFound => (null, 0, false),
            ReservationOutcome.Limited => (null, 0, true),
            _ => (new CallMember(uid, answer.Profile?.Name ?? uid, MemberStatus.Busy), answer.Seq, false),
        };
    }
}
