using System.Collections.Immutable;
using System.Text;
using CallGrains.Abstractions;
using CallGrains.Grains.Deadlines;
using CallGrains.Grains.Push;
using CallGrains.Grains.Storage;
using CallGrains.Grains.Users;
using CallGrains.Grains.Webhooks;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace CallGrains.Grains.Calls;

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
    PushDispatcher push,
    IOptions<PushTokenOptions> pushOptions,
    WebhookDispatcher webhooks,
    ILogger<CallSessionGrain> logger) : Grain, ICallSessionGrain
{
    // A new call that met glare retries when the call it met stopped ringing meanwhile; bounded.
    private const int MaxInitiateAttempts = 3;

    // 250 ms doubling: the last of 6 attempts comes about 8 s after the first.
    private const int MaxUpdateAttempts = 6;

    /// <summary>Updates kept for redelivery at most; a 1:1 call makes two per transition and settles in a few.</summary>
    public const int MaxOutbox = 32;

    /// <summary>Owed pushes kept at most beyond three per member (ring, cancel, missed).</summary>
    public const int MaxPushDues = 6;

    /// <summary>Webhook events kept at most while no endpoint queue takes them; past it the oldest go, logged.</summary>
    public const int MaxWebhookDues = 512;

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
    private IGrainTimer? _owedTimer;

    // The call was settled and archived: what this activation holds was read back from the asker's history to answer a
    // late request, and is never stored again.
    private bool _fromHistory;

    // The call while its initiate runs and nothing is stored yet, for Peek.
    private CallInfo? _initiating;

    // The initiate running now has taken its one unit of the caller's quota (a retry after glare or a repair takes none).
    private bool _initiateCounted;

    private string SessionId => this.GetPrimaryKeyString();

    private CallInfo? Call => state.State.Call;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        if (state.State.DueAt is { } due)
        {
            ArmDueTimer(due);
        }

        if (!state.State.Outbox.IsEmpty || state.State.Owes || Call?.Status.IsFinal() == true)
        {
            // Work an earlier activation left: updates to deliver, pushes to send, or a settled call to move to the histories.
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
        _initiateCounted = false;
        try
        {
            return request.ReceiverType == ReceiverType.Group ? await InitiateGroupAsync(request) : await InitiateUserAsync(request);
        }
        finally
        {
            _initiating = null;
        }
    }

    public async Task<CallResult> AcceptCall(string uid, string? deviceId)
    {
        if (await MissingAsync(uid) is { } missing)
        {
            return missing;
        }

        var decision = await DecideAsync(now => CallKindRules.Accept(View!, uid, deviceId, now));
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
        ?? await ApplyAsync(await DecideAsync(now => CallKindRules.Reject(View!, uid, status, deviceId, now)), uid);

    public async Task<CallResult> EndCall(string uid, string? deviceId) =>
        await MissingAsync(uid)
        ?? await ApplyAsync(await DecideAsync(now => CallKindRules.End(View!, uid, deviceId, now)), uid);

    public async Task<CallResult> GetCall(string uid)
    {
        if (await MissingAsync(uid) is { } missing)
        {
            return missing;
        }

        var seq = (await GrainFactory.Ref<IUserGrain>(uid).GetSnapshot())?.Seq ?? 0;
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

    public Task<CallInfo?> PeekAfterInitiate() => Peek();

    public async Task<CallResult> Signal(string fromUid, string toUid, string data)
    {
        if ((await MissingAsync(fromUid) ?? CallRules.RefuseSignal(View!, fromUid, toUid, Encoding.UTF8.GetByteCount(data))) is { } refused)
        {
            return refused;
        }

        var evt = new CallEvent { Type = CallEventType.Signal, Call = Call, From = fromUid, Data = data };
        await GrainFactory.Ref<IUserSlotGrain>(toUid).Notify(evt, state.State.Devices.GetValueOrDefault(toUid));
        var seq = (await GrainFactory.Ref<IUserGrain>(fromUid).GetSnapshot())?.Seq ?? 0;
        return CallResult.Success(Call!, seq);
    }

    public async Task<CallResult> AuthorizeMedia(string uid) =>
        await MissingAsync(uid) ?? CallRules.RefuseMedia(View!, uid) ?? await GetCall(uid);

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
        else if (CallKindRules.PhaseOf(Call, uid) is { } phase)
        {
            await UpdateAsync(uid, Call, phase, null, null);
        }

        return Call;
    }

    public async Task Abandon(string uid)
    {
        var decision = Call is null
            ? Decision.Allowed
            : await DecideAsync(now => CallKindRules.Abandon(View!, uid, now));
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

    /// <summary>The call's deadline came: members still ringing stop (unanswered), then a group call left with one participant ends when idle.</summary>
    private async Task OnDueAsync(DateTimeOffset now)
    {
        if (Call is null)
        {
            return;
        }

        if (View!.RingsPast(now))
        {
            var timeOut = CallKindRules.TimeOut(View, now);
            await ApplyAsync(timeOut, Call.Initiator.Uid, byClock: true);
        }

        if (state.State.IdleDeadline is { } idle && now >= idle && Call.Status.IsLive())
        {
            await ApplyAsync(GroupCallRules.IdleEnd(View!, now), Call.Initiator.Uid, byClock: true);
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
    private async Task<Decision> DecideAsync(Func<DateTimeOffset, Decision> decide)
    {
        await CatchUpAsync();
        return decide(time.GetUtcNow());
    }

    /// <summary>
    /// Stores and delivers what the rules decided (a transition, if any) and answers the asker: their refusal, or the
    /// call with their seq after it.
    /// </summary>
    private async Task<CallResult> ApplyAsync(Decision decision, string uid, bool byClock = false)
    {
        if (decision.Next is not { } next)
        {
            return decision.Refusal ?? CallResult.Success(Call!, 0);
        }

        var seqs = await CommitAsync(next, null, decision.Updates, byClock ? null : uid);
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

    private void ArmDueTimer(DateTimeOffset at)
    {
        _dueTimer?.Dispose();
        var due = at - time.GetUtcNow();
        _dueTimer = this.RegisterGrainTimer(
            // Fired for that instant: a clock a hair behind the timer does not put the deadline off.
            async _ => await OnDueAsync(time.GetUtcNow() > at ? time.GetUtcNow() : at),
            new GrainTimerCreationOptions(due < TimeSpan.Zero ? TimeSpan.Zero : due, Timeout.InfiniteTimeSpan) { KeepAlive = true });
    }
}
