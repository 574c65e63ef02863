using System.Collections.Immutable;
using CallGrains.Abstractions;
using CallGrains.Grains.Push;
using CallGrains.Grains.Storage;
using CallGrains.Grains.Users;
using CallGrains.Grains.Webhooks;

namespace CallGrains.Grains.Calls;

/// <summary>
/// Storing a transition with the updates it owes (the outbox), delivering them to the parties' user grains, and moving
/// a settled call to the parties' histories: what every command of <see cref="CallSessionGrain"/> ends with.
/// </summary>
public sealed partial class CallSessionGrain
{
    /// <summary>
    /// Stores a transition together with the updates it owes the parties (the outbox), then delivers them. The
    /// transition stands once stored: a delivery that fails is left in the outbox, retried by a timer while this
    /// activation lives and by the wake-up index if it does not, and never turns the request's success into an
    /// error. Returns each reached party's seq after its update.
    /// </summary>
    private async Task<Dictionary<string, long>> CommitAsync(CallInfo call, DateTimeOffset? deadline, IEnumerable<PartyUpdate> updates, string? actor)
    {
        var previous = state.State;
        var now = time.GetUtcNow();
        var ringing = CallKindRules.Rings(call);
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

        // The pushes this transition owes are stored with it, so a crash before they are sent leaves them here.
        var pushes = push.Enabled
            ? PushPlan.Add(previous.Pushes, call, items, settles, now, ringDeadline ?? previous.RingDeadline, pushOptions.Value.MissedCallAlerts)
            : previous.Pushes;
        if (pushes.Length > MaxPushDues + (3 * call.Members.Length))
        {
            pushes = pushes.RemoveRange(0, pushes.Length - MaxPushDues - (3 * call.Members.Length));
        }

        // So are the webhook events it causes.
        var hooks = webhooks.Enabled ? previous.Webhooks.AddRange(WebhookPlan.For(previous.Call, call, actor, version, now)) : previous.Webhooks;
        if (hooks.Length > MaxWebhookDues)
        {
            logger.WebhooksDropped(SessionId, hooks.Length - MaxWebhookDues);
            hooks = hooks.RemoveRange(0, hooks.Length - MaxWebhookDues);
        }

        var next = previous with
        {
            Call = call,
            CalleeUid = call.ReceiverType == ReceiverType.User ? call.ReceiverId : previous.CalleeUid,
            RingDeadline = ringDeadline,
            IdleDeadline = idle,
            Version = version,
            Outbox = outbox,
            Pushes = pushes,
            Webhooks = hooks,
        };
        var due = next.DueAt;
        var watch = deadlines.Durable && (due is not null || !outbox.IsEmpty || next.Owes);
        DateTimeOffset? wake = null;
        if (watch)
        {
            var retry = now + OutboxRetry;
            wake = outbox.IsEmpty && !next.Owes ? due!.Value : due is { } d && d < retry ? d : retry;
            if (!deadlines.WrittenWithState)
            {
                // Indexed before the transition is stored: no stored ringing call, outbox, owed push or event lacks its
                // wake-up. (A store that writes the entry with the state does both in one step.)
                await deadlines.AddAsync(SessionId, wake.Value);
            }
        }

        // Not stored, not done: a failed write leaves the call as storage has it.
        await state.WriteOrForgetAsync(next with { Watched = previous.Watched || watch, WakeAt = wake }, this);

        foreach (var stopped in pushes.Where(p => p.Kind == PushKind.Cancel).Except(previous.Pushes))
        {
            // A ring push of this call still waiting to be sent (or retried) to this user is not sent any more.
            push.StopRing(SessionId, stopped.Uid);
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

        return await DeliverAsync(items);
    }

    /// <summary>
    /// Delivers the outbox in order. A party that cannot be reached now keeps its updates (and the ones after them,
    /// so it applies them in order); the others are not held up. Users apply each version once, so delivering an
    /// update that was applied before (after a crash, the outbox is not known to be delivered) changes nothing.
    /// </summary>
    /// <param name="answering">
    /// The updates of the transition whose request is waiting for this: only these skip the acting device, which gets
    /// its own user's seq in the response. Delivered later (a retry, a wake-up, after a crash), that response has gone
    /// out without it, so the update goes to every device (<see cref="SlotRules.AlsoToActor"/>); one that saw the seq
    /// after all drops it at its gateway.
    /// </param>
    private async Task<Dictionary<string, long>> DeliverAsync(IEnumerable<OutboxItem>? answering = null)
    {
        // Each user's updates in order, all users at once: a group of 100 is 100 parallel calls, not a chain.
        var outbox = state.State.Outbox;
        var now = new HashSet<OutboxItem>(answering ?? [], ReferenceEqualityComparer.Instance);
        var delivered = await Task.WhenAll(outbox.GroupBy(i => i.Uid).Select(g => DeliverToAsync(g, now)));
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

        // Pushes go once their user has the update that owes them (a ring push asks the user whether it still rings);
        // webhook events go in the order of the transitions, each once per endpoint.
        var handed = DispatchPushes([.. left.Select(i => i.Uid)]);
        if (!state.State.Webhooks.IsEmpty)
        {
            handed &= webhooks.Dispatch(SessionId, state.State.Webhooks);
        }

        if (failure is not null || !handed)
        {
            if (failure is not null)
            {
                logger.DeliveryDeferred(failure, SessionId, left.Count);
            }

            _redeliveryTimer ??= this.RegisterGrainTimer(
                async () => await DeliverAsync(),
                new GrainTimerCreationOptions(RedeliveryInterval, RedeliveryInterval) { KeepAlive = true });
            return seqs;
        }

        _redeliveryTimer?.Dispose();
        _redeliveryTimer = null;
        AfterDelivery();
        return seqs;
    }

    /// <summary>
    /// Everything owed was delivered: a settled call with no pushes left moves to the histories once this request has
    /// answered; a live one's wake-up moves to its next deadline (sooner while pushes are owed, so a silo that dies with
    /// them leaves them to another one within seconds) or goes.
    /// </summary>
    private void AfterDelivery()
    {
        var pushesOwed = state.State.Owes;
        if (pushesOwed)
        {
            // Handed on and not yet done: handed again now and then while this activation lives (the dispatchers skip
            // what they have), so a hand-on that failed is tried again without a wake-up index (the embedded host).
            _owedTimer ??= this.RegisterGrainTimer(
                async () => await DeliverAsync(),
                new GrainTimerCreationOptions(OutboxRetry, OutboxRetry) { KeepAlive = true });
        }
        else
        {
            _owedTimer?.Dispose();
            _owedTimer = null;
        }

        if (Call is { } settled && settled.Status.IsFinal() && !_fromHistory)
        {
            if (!pushesOwed)
            {
                _archiveTimer ??= this.RegisterGrainTimer(
                    ArchiveAsync,
                    new GrainTimerCreationOptions(TimeSpan.Zero, Timeout.InfiniteTimeSpan) { KeepAlive = true });
            }

            return;
        }

        if (state.State.Watched)
        {
            var retry = time.GetUtcNow() + OutboxRetry;
            if (state.State.DueAt is { } due)
            {
                deadlines.Schedule(SessionId, pushesOwed && retry < due ? retry : due);
            }
            else if (pushesOwed)
            {
                deadlines.Schedule(SessionId, retry);
            }
            else
            {
                // Best effort: an entry left behind is swept and dropped when the call finds nothing to do.
                deadlines.Remove(SessionId);
                state.State = state.State with { Watched = false };
            }
        }

        LeaveIfNotLive();
    }

    /// <summary>One user's updates in order; at the first that fails, it and the ones after it are left.</summary>
    private async Task<(string Uid, long? Seq, List<OutboxItem> Left, Exception? Error)> DeliverToAsync(IGrouping<string, OutboxItem> items, HashSet<OutboxItem> answering)
    {
        long? seq = null;
        var all = items.ToList();
        for (var i = 0; i < all.Count; i++)
        {
            try
            {
                var update = all[i].Update.ExceptDeviceId is null || answering.Contains(all[i]) || !SlotRules.AlsoToActor(all[i].Update.Event)
                    ? all[i].Update
                    : all[i].Update with { ExceptDeviceId = null };
                seq = await GrainFactory.Ref<IUserSlotGrain>(items.Key).Update(update).WaitAsync(UpdateTimeout);
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
    private async Task ReleaseGroupAsync(string groupId, bool unused = false)
    {
        try
        {
            await GrainFactory.Ref<IGroupGrain>(groupId).ReleaseCall(SessionId, unused);
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
        if (Call is not { } call || !call.Status.IsFinal() || !state.State.Outbox.IsEmpty || state.State.Owes || _fromHistory)
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

        if (watched && !deadlines.WrittenWithState)
        {
            // Best effort: an entry left behind is swept, finds no call and is dropped. (A store that writes entries with
            // the state removed it with the clear.)
            deadlines.Remove(SessionId);
        }

        state.State = new CallSessionState();
        metrics.Archived();
        this.DeactivateOnIdle();
    }

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
                return await GrainFactory.Ref<IUserSlotGrain>(uid).Update(update);
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
