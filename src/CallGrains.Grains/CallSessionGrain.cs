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

    /// <summary>The call has an entry in the durable wake-up index (<see cref="IRingDeadlines"/>).</summary>
    [Id(3)] public bool Watched { get; init; }

    /// <summary>The device each participant is in the call on (the one that initiated or accepted), for signals.</summary>
    [Id(4)] public ImmutableDictionary<string, string> Devices { get; init; } = ImmutableDictionary<string, string>.Empty;

    /// <summary>Transitions so far; each one's updates carry its number, so the parties apply each exactly once.</summary>
    [Id(5)] public long Version { get; init; }

    /// <summary>
    /// The updates of transitions stored with them and not known to be applied by their users, in order (at most
    /// <see cref="CallSessionGrain.MaxOutbox"/>). Stored in the same write as the transition, so a crash between storing
    /// and telling leaves them here for redelivery.
    /// </summary>
    [Id(6)] public ImmutableArray<OutboxItem> Outbox { get; init; } = [];

    /// <summary>When a group call with one participant left alone ends by itself (<see cref="CallOptions.IdleSessionEndSeconds"/>).</summary>
    [Id(7)] public DateTimeOffset? IdleDeadline { get; init; }

    /// <summary>When the call is next due: its ring deadline while it rings for someone, or its idle end.</summary>
    public DateTimeOffset? DueAt => Call is { } call && CallRules.Rings(call) && RingDeadline is { } ring
        ? IdleDeadline is { } idle && idle < ring ? idle : ring
        : IdleDeadline;
}

/// <summary>An update for one party's user grain, waiting in a session's outbox.</summary>
[GenerateSerializer, Immutable, Alias("cg.OutboxItem")]
public sealed record OutboxItem([property: Id(0)] string Uid, [property: Id(1)] SlotUpdate Update);

/// <summary>
/// One call session: the only place a call changes state. It reserves and updates the parties' user grains and
/// never the other way round. The one session → session call is glare, where a new call joins the older ringing
/// call it found in a user's slot; the older call never calls the newer one, so that edge cannot form a cycle.
/// Placed on the silo that first calls it, the caller's gateway, where the caller's user grain lives too
/// (<see cref="UserGrain"/> follows its devices): the caller's side of a call is local calls.
/// </summary>
[Orleans.Placement.PreferLocalPlacement]
public sealed partial class CallSessionGrain(
    [PersistentState("call", StorageNames.Default)] IPersistentState<CallSessionState> state,
    IOptions<CallOptions> options,
    IRingDeadlines deadlines,
    ICallLog log,
    TimeProvider time,
    CallMetrics metrics,
    ILogger<CallSessionGrain> logger) : Grain, ICallSessionGrain
{
    // A new call that met glare retries when the call it met stopped ringing meanwhile; bounded.
    private const int MaxInitiateAttempts = 3;

    // 250 ms doubling: the last of 6 attempts comes about 8 s after the first.
    private const int MaxUpdateAttempts = 6;

    /// <summary>Updates kept for redelivery at most; a 1:1 call makes two per transition and settles in a few.</summary>
    public const int MaxOutbox = 32;

    /// <summary>After a transition, when the wake-up index brings the call back if its updates are not all applied by then.</summary>
    public static readonly TimeSpan OutboxRetry = TimeSpan.FromSeconds(5);

    // How long one delivery to a user may take before the rest is left to redelivery (a user grain waits at most
    // Calls:DeliveryTimeoutMilliseconds per gateway itself).
    private static readonly TimeSpan UpdateTimeout = TimeSpan.FromSeconds(5);

    // While updates wait, the active session retries them this often (the index covers its silo dying).
    private static readonly TimeSpan RedeliveryInterval = TimeSpan.FromSeconds(2);

    // How long an activation with no live call (none, or a settled call's record) stays for more requests.
    private static readonly TimeSpan NotLiveLinger = TimeSpan.FromSeconds(2);

    private IGrainTimer? _dueTimer;
    private IGrainTimer? _redeliveryTimer;
    private IGrainTimer? _archiveTimer;
    private IGrainTimer? _leaveTimer;

    // The call was settled and archived: what this activation holds was read back from the asker's history to answer a
    // late request, and is never stored again.
    private bool _fromHistory;

    // The call while its initiate runs and nothing is stored yet, for Peek.
    private CallInfo? _initiating;

    private string SessionId => this.GetPrimaryKeyString();

    private CallInfo? Call => state.State.Call;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        if (state.State.DueAt is { } due)
        {
            ArmDueTimer(due);
        }

        if (!state.State.Outbox.IsEmpty || Call?.Status.IsFinal() == true)
        {
            // Work an earlier activation left: updates to deliver, or a settled call to move to the histories.
            _redeliveryTimer = this.RegisterGrainTimer(
                async () => await DeliverAsync(),
                new GrainTimerCreationOptions(TimeSpan.Zero, RedeliveryInterval) { KeepAlive = true });
        }

        return Task.CompletedTask;
    }

    public async Task<CallResult> InitiateCall(InitiateRequest request)
    {
        if (CallRules.RefuseInitiate(SessionId, request, idInUse: Call is not null) is { } invalid)
        {
            return invalid;
        }

        _initiating = CallRules.NewCall(SessionId, request, request.TimeoutSeconds ?? options.Value.RingTimeoutSeconds, time.GetUtcNow());
        try
        {
            return request.ReceiverType == ReceiverType.Group ? await InitiateGroupAsync(request) : await InitiateUserAsync(request);
        }
        finally
        {
            _initiating = null;
        }
    }

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
        if (await MissingAsync(uid) is { } missing)
        {
            return missing;
        }

        await CatchUpAsync();
        var decision = Call!.IsGroup ? GroupCallRules.Accept(View!, uid, deviceId, time.GetUtcNow()) : CallRules.Accept(View!, uid, deviceId, time.GetUtcNow());
        if (decision.Refusal is null)
        {
            // The device that answered is the one the call's signals go to.
            state.State = state.State with { Devices = WithDevice(state.State.Devices, uid, deviceId) };
        }

        return await ApplyAsync(decision, uid);
    }

    public async Task<CallResult> RejectCall(string uid, CallStatus status, string? deviceId) =>
        CallRules.RefuseRejectStatus(status)
        ?? await MissingAsync(uid)
        ?? await ApplyAsync(await DecideAsync(
            now => CallRules.Reject(View!, uid, status, deviceId, now),
            now => GroupCallRules.Reject(View!, uid, status, deviceId, now)), uid);

    public async Task<CallResult> EndCall(string uid, string? deviceId) =>
        await MissingAsync(uid)
        ?? await ApplyAsync(await DecideAsync(
            now => CallRules.End(View!, uid, deviceId, now),
            now => GroupCallRules.End(View!, uid, deviceId, now)), uid);

    public async Task<CallResult> GetCall(string uid)
    {
        if (await MissingAsync(uid) is { } missing)
        {
            return missing;
        }

        var seq = (await GrainFactory.GetGrain<IUserGrain>(uid).GetSnapshot())?.Seq ?? 0;
        return CallResult.Success(Call!, seq);
    }

    public async Task<CallInfo?> Peek()
    {
        if (Call is null && _initiating is { } initiating)
        {
            return initiating;
        }

        await LoadArchivedAsync();
        LeaveIfNotLive();
        return Call;
    }

    public async Task<CallResult> Signal(string fromUid, string toUid, string data)
    {
        if ((await MissingAsync(fromUid) ?? CallRules.RefuseSignal(View!, fromUid, toUid, Encoding.UTF8.GetByteCount(data))) is { } refused)
        {
            return refused;
        }

        var evt = new CallEvent { Type = CallEventType.Signal, Call = Call, From = fromUid, Data = data };
        await GrainFactory.GetGrain<IUserSlotGrain>(toUid).Notify(evt, state.State.Devices.GetValueOrDefault(toUid));
        var seq = (await GrainFactory.GetGrain<IUserGrain>(fromUid).GetSnapshot())?.Seq ?? 0;
        return CallResult.Success(Call!, seq);
    }

    public async Task<CallResult> AuthorizeMedia(string uid) =>
        await MissingAsync(uid) ?? CallRules.RefuseMedia(View!) ?? await GetCall(uid);

    public async Task<CallInfo?> Reconcile(string uid)
    {
        if (Call is null || !IsParty(uid) || Call.Status.IsFinal())
        {
            // Not a call this user is in (any more): a slot that still names it is freed. Release only frees a slot
            // that holds this session, so this cannot take anyone out of another call.
            await Release(uid, Call ?? Placeholder(uid, uid));

            // Woken only to answer this: an archived call goes again. A settled call still stored is not sent away: its
            // move to the parties' histories is due (deactivating here lost that move, and the call stayed in storage).
            LeaveIfNotLive();
        }
        else if ((Call.IsGroup ? GroupCallRules.PhaseOf(Call, uid) : Call.Status == CallStatus.Ongoing ? SlotPhase.Ongoing : null) is { } phase)
        {
            await UpdateAsync(uid, Call, phase, null, null);
        }

        return Call;
    }

    public async Task Abandon(string uid)
    {
        var decision = Call is null
            ? Decision.Allowed
            : await DecideAsync(now => CallRules.Abandon(View!, uid, now), now => GroupCallRules.Abandon(View!, uid, now));
        if (decision.Next is null)
        {
            // Settled already, or not theirs: make sure the user's slot agrees, since that is why the grace timer fires.
            await Reconcile(uid);
            return;
        }

        await ApplyAsync(decision, uid);
        logger.Abandoned(SessionId, uid, decision.Outcome!.ToLowerInvariant());
    }

    public async Task CheckDeadline()
    {
        if (state.State.DueAt is { } due && time.GetUtcNow() >= due)
        {
            await OnDueAsync(time.GetUtcNow());
            return;
        }

        if (Call is null)
        {
            // Never stored (initiate failed after the entry was added).
            deadlines.Remove(SessionId);
            this.DeactivateOnIdle();
            return;
        }

        // Woken after a transition (its updates may not all have been applied: this silo or the last one died
        // between storing and telling), or still ringing and not due (the ring timer armed on activation fires at the
        // deadline), or settled with its removal lost. Redelivery is harmless: users apply each version once.
        await DeliverAsync();
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
            state.State = state.State with { Devices = WithDevice(state.State.Devices, callerUid, request.DeviceId) };
            await CommitAsync(call, deadline, CallRules.Ring(call).Updates);
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
        }

        // The callee is on another call: the attempt is recorded as a busy call (the callee's missed call).
        // It never rang, so nothing is stored for it but the parties' history entries, written before the answer.
        var busy = CallRules.Busy(call with { Initiator = callerRes.Profile! }, now);
        await log.AppendAsync(busy);
        metrics.Settled(CallStatus.Busy);
        this.DeactivateOnIdle();
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
        var holder = GrainFactory.GetGrain<ICallSessionGrain>(heldBy);
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

    /// <summary>The call's deadline came: members still ringing stop (unanswered), then a group call left with one participant ends when idle.</summary>
    private async Task OnDueAsync(DateTimeOffset now)
    {
        if (Call is null)
        {
            return;
        }

        if (View!.RingsPast(now))
        {
            var timeOut = Call.IsGroup ? GroupCallRules.TimeOut(View, now) : CallRules.TimeOut(View, now);
            await ApplyAsync(timeOut, Call.Initiator.Uid);
        }

        if (state.State.IdleDeadline is { } idle && now >= idle && Call.Status.IsLive())
        {
            await ApplyAsync(GroupCallRules.IdleEnd(View!, now), Call.Initiator.Uid);
            logger.CallIdleEnded(SessionId, options.Value.IdleSessionEndSeconds);
        }
    }

    /// <summary>A group call past its ring deadline times its ringing members out before a command is decided.</summary>
    private async Task CatchUpAsync()
    {
        if (Call is { IsGroup: true } && View!.RingsPast(time.GetUtcNow()))
        {
            await OnDueAsync(time.GetUtcNow());
        }
    }

    /// <summary>Decides a command by the rules of the call's kind (a group call caught up with its deadline first).</summary>
    private async Task<Decision> DecideAsync(Func<DateTimeOffset, Decision> oneToOne, Func<DateTimeOffset, Decision> group)
    {
        if (!Call!.IsGroup)
        {
            return oneToOne(time.GetUtcNow());
        }

        await CatchUpAsync();
        return group(time.GetUtcNow());
    }

    /// <summary>
    /// Stores and delivers what the rules decided (a transition, if any) and answers the asker: their refusal, or the
    /// call with their seq after it.
    /// </summary>
    private async Task<CallResult> ApplyAsync(Decision decision, string uid)
    {
        if (decision.Next is not { } next)
        {
            return decision.Refusal ?? CallResult.Success(Call!, 0);
        }

        var seqs = await CommitAsync(next, null, decision.Updates);
        if (next.Status == CallStatus.Unanswered)
        {
            logger.CallUnanswered(SessionId, next.TimeoutSeconds);
        }
        else
        {
            logger.CallSettled(SessionId, decision.Outcome!, uid);
        }

        return decision.Refusal ?? CallResult.Success(next, seqs.GetValueOrDefault(uid));
    }

    /// <summary>
    /// Not found, or not a party: the checks every request on an existing call starts with. A settled call has left
    /// grain storage (archived); its final record is read back from the call log while it is kept, so a late request
    /// still gets the error its status calls for.
    /// </summary>
    private async Task<CallResult?> MissingAsync(string uid)
    {
        if (!Identifiers.IsValidSessionId(SessionId))
        {
            return CallResult.Fail(CallErrorCode.InvalidSessionId, "session id must be 1-128 characters of [A-Za-z0-9._:-]");
        }

        await LoadArchivedAsync();
        LeaveIfNotLive();
        return CallRules.RefuseStranger(SessionId, View, uid);
    }

    /// <summary>
    /// An activation with no live call (an id that names no call, or a call read back from its record) goes a moment
    /// later, not at once: requests that arrived together are answered here rather than forwarded from one short-lived
    /// activation to the next (Orleans forwards a message at most twice, then rejects it). Seen with a call whose
    /// initiate failed while others already had its id (attached to a busy answer) and asked together.
    /// </summary>
    private void LeaveIfNotLive()
    {
        if (Call is null || _fromHistory)
        {
            _leaveTimer ??= this.RegisterGrainTimer(
                () =>
                {
                    _leaveTimer?.Dispose();
                    _leaveTimer = null;
                    if (Call is null || _fromHistory)
                    {
                        this.DeactivateOnIdle();
                    }

                    return Task.CompletedTask;
                },
                new GrainTimerCreationOptions(NotLiveLinger, Timeout.InfiniteTimeSpan));
        }
    }

    /// <summary>With nothing stored, the call's final record if it was archived (read only: never stored again).</summary>
    private async Task LoadArchivedAsync()
    {
        if (Call is null && await log.FindAsync(SessionId) is { } archived)
        {
            state.State = new CallSessionState { Call = archived, CalleeUid = archived.ReceiverId };
            _fromHistory = true;
        }
    }

    private bool IsParty(string uid) => View!.IsParty(uid);

    /// <summary>The call as the rules see it; null when there is none.</summary>
    private CallView? View => Call is { } call ? new CallView(call, state.State.CalleeUid ?? call.ReceiverId, state.State.RingDeadline) : null;

    private static ImmutableDictionary<string, string> WithDevice(ImmutableDictionary<string, string> devices, string uid, string? deviceId) =>
        deviceId is null ? devices.Remove(uid) : devices.SetItem(uid, deviceId);

    /// <summary>
    /// Stores a transition together with the updates it owes the parties (the outbox), then delivers them. The
    /// transition stands once stored: a delivery that fails is left in the outbox, retried by a timer while this
    /// activation lives and by the wake-up index if it does not, and never turns the request's success into an
    /// error. Returns each reached party's seq after its update.
    /// </summary>
    private async Task<Dictionary<string, long>> CommitAsync(CallInfo call, DateTimeOffset? deadline, IEnumerable<PartyUpdate> updates)
    {
        var previous = state.State;
        var now = time.GetUtcNow();
        var ringing = CallRules.Rings(call);
        var settles = call.Status.IsFinal() && previous.Call?.Status.IsFinal() != true;

        // Each update of a transition for the same user gets its own version (a group's first join tells the initiator
        // twice: accepted, joined), so the user applies each one once.
        var counts = new Dictionary<string, int>();
        var items = updates.Select(u =>
        {
            var nth = counts[u.Uid] = counts.GetValueOrDefault(u.Uid) + 1;
            return new OutboxItem(u.Uid, new SlotUpdate { Call = call, Phase = u.Phase, Event = u.Event, ExceptDeviceId = u.ExceptDeviceId, Version = previous.Version + nth });
        }).ToList();
        var version = previous.Version + Math.Max(1, counts.Values.DefaultIfEmpty(0).Max());
        var outbox = previous.Outbox.AddRange(items);
        var cap = OutboxCap(call);
        if (outbox.Length > cap)
        {
            outbox = outbox.RemoveRange(0, outbox.Length - cap);
        }

        var ringDeadline = ringing ? deadline ?? previous.RingDeadline : null;
        DateTimeOffset? idle = GroupCallRules.Alone(call) ? previous.IdleDeadline ?? now.AddSeconds(options.Value.IdleSessionEndSeconds) : null;
        var next = previous with
        {
            Call = call,
            CalleeUid = call.ReceiverType == ReceiverType.User ? call.ReceiverId : previous.CalleeUid,
            RingDeadline = ringDeadline,
            IdleDeadline = idle,
            Version = version,
            Outbox = outbox,
        };
        var due = next.DueAt;
        var watch = deadlines.Durable && (due is not null || !outbox.IsEmpty);
        if (watch)
        {
            // Indexed before the transition is stored: no stored ringing call and no stored outbox lacks its wake-up.
            var retry = now + OutboxRetry;
            await deadlines.AddAsync(SessionId, outbox.IsEmpty ? due!.Value : due is { } d && d < retry ? d : retry);
        }

        state.State = next with { Watched = previous.Watched || watch };
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
            if (call.IsGroup)
            {
                await ReleaseGroupAsync(call.ReceiverId);
            }
        }

        if (due is { } armed)
        {
            ArmDueTimer(armed);
        }
        else
        {
            _dueTimer?.Dispose();
            _dueTimer = null;
        }

        return await DeliverAsync();
    }

    /// <summary>
    /// Delivers the outbox in order. A party that cannot be reached now keeps its updates (and the ones after them,
    /// so it applies them in order); the others are not held up. Users apply each version once, so delivering an
    /// update that was applied before (after a crash, the outbox is not known to be delivered) changes nothing.
    /// </summary>
    private async Task<Dictionary<string, long>> DeliverAsync()
    {
        // Each user's updates in order, all users at once: a group of 100 is 100 parallel calls, not a chain.
        var outbox = state.State.Outbox;
        var delivered = await Task.WhenAll(outbox.GroupBy(i => i.Uid).Select(DeliverToAsync));
        var seqs = new Dictionary<string, long>();
        var undelivered = new HashSet<OutboxItem>(ReferenceEqualityComparer.Instance);
        Exception? failure = null;
        foreach (var (uid, seq, rest, error) in delivered)
        {
            if (seq is { } applied)
            {
                seqs[uid] = applied;
            }

            undelivered.UnionWith(rest);
            failure ??= error;
        }

        // Kept in memory only: the next transition stores what is left, and after a crash all of it is redelivered.
        var left = outbox.Where(undelivered.Contains).ToList();
        state.State = state.State with { Outbox = [.. left] };
        if (failure is not null)
        {
            logger.DeliveryDeferred(failure, SessionId, left.Count);
            _redeliveryTimer ??= this.RegisterGrainTimer(
                async () => await DeliverAsync(),
                new GrainTimerCreationOptions(RedeliveryInterval, RedeliveryInterval) { KeepAlive = true });
            return seqs;
        }

        _redeliveryTimer?.Dispose();
        _redeliveryTimer = null;
        if (Call is { } settled && settled.Status.IsFinal() && !_fromHistory)
        {
            // Every party has its final update: the call moves to their histories once this request has answered.
            _archiveTimer ??= this.RegisterGrainTimer(
                ArchiveAsync,
                new GrainTimerCreationOptions(TimeSpan.Zero, Timeout.InfiniteTimeSpan) { KeepAlive = true });
            return seqs;
        }

        if (state.State.Watched)
        {
            if (state.State.DueAt is { } due)
            {
                deadlines.Schedule(SessionId, due);
            }
            else
            {
                // Best effort: an entry left behind is swept and dropped when the call finds nothing to do.
                deadlines.Remove(SessionId);
                state.State = state.State with { Watched = false };
            }
        }

        LeaveIfNotLive();
        return seqs;
    }

    /// <summary>One user's updates in order; at the first that fails, it and the ones after it are left.</summary>
    private async Task<(string Uid, long? Seq, List<OutboxItem> Left, Exception? Error)> DeliverToAsync(IGrouping<string, OutboxItem> items)
    {
        long? seq = null;
        var all = items.ToList();
        for (var i = 0; i < all.Count; i++)
        {
            try
            {
                seq = await GrainFactory.GetGrain<IUserSlotGrain>(items.Key).Update(all[i].Update).WaitAsync(UpdateTimeout);
            }
            catch (Exception ex) when (ex is not ArgumentException)
            {
                return (items.Key, seq, all[i..], ex);
            }
        }

        return (items.Key, seq, [], null);
    }

    /// <summary>Updates kept for redelivery at most: a few transitions' worth for every party of the call.</summary>
    private static int OutboxCap(CallInfo call) => MaxOutbox + (4 * call.Members.Length);

    /// <summary>Best effort: a claim left behind is found settled by the group's next call, which takes it over.</summary>
    private async Task ReleaseGroupAsync(string groupId)
    {
        try
        {
            await GrainFactory.GetGrain<IGroupGrain>(groupId).ReleaseCall(SessionId);
        }
        catch (Exception ex) when (ex is not ArgumentException)
        {
            logger.GroupReleaseFailed(ex, SessionId, groupId);
        }
    }

    /// <summary>
    /// Writes the settled call into every party's history, then deletes it from grain storage and from the wake-up
    /// index. Runs after all final updates were applied and off the request that settled it. Until it has succeeded the
    /// call stays stored and indexed, so a crash meanwhile is followed by a wake-up on another silo that archives it
    /// again; history entries are keyed by user and session, so each party still has exactly one.
    /// </summary>
    private async Task ArchiveAsync()
    {
        _archiveTimer?.Dispose();
        _archiveTimer = null;
        if (Call is not { } call || !call.Status.IsFinal() || !state.State.Outbox.IsEmpty || _fromHistory)
        {
            return;
        }

        // Read before the clear, which gives the state a fresh instance.
        var watched = state.State.Watched;
        try
        {
            await log.AppendAsync(call);
            await state.ClearStateAsync();
        }
        catch (Exception ex) when (ex is not ArgumentException)
        {
            // Tried again with the redelivery (and by the wake-up index if this activation goes).
            logger.ArchiveDeferred(ex, SessionId);
            metrics.ArchiveDeferred();
            _redeliveryTimer ??= this.RegisterGrainTimer(
                async () => await DeliverAsync(),
                new GrainTimerCreationOptions(RedeliveryInterval, RedeliveryInterval) { KeepAlive = true });
            return;
        }

        if (watched)
        {
            // Best effort: an entry left behind is swept, finds no call and is dropped.
            deadlines.Remove(SessionId);
        }

        state.State = new CallSessionState();
        metrics.Archived();
        this.DeactivateOnIdle();
    }

    private void ArmDueTimer(DateTimeOffset at)
    {
        _dueTimer?.Dispose();
        var due = at - time.GetUtcNow();
        _dueTimer = this.RegisterGrainTimer(
            // Fired for that instant: a clock a hair behind the timer does not put the deadline off.
            async _ => await OnDueAsync(time.GetUtcNow() > at ? time.GetUtcNow() : at),
            new GrainTimerCreationOptions(due < TimeSpan.Zero ? TimeSpan.Zero : due, Timeout.InfiniteTimeSpan) { KeepAlive = true });
    }

    private Task<Reservation> Reserve(string uid, SlotRequest request) => GrainFactory.GetGrain<IUserSlotGrain>(uid).Reserve(request);

    private Task<Reservation> Probe(string uid, SlotRequest request) => GrainFactory.GetGrain<IUserSlotGrain>(uid).Probe(request);

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
                return await GrainFactory.GetGrain<IUserSlotGrain>(uid).Update(update);
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
