using System.Collections.Immutable;
using CallGrains.Abstractions;
using CallGrains.Grains.Push;
using CallGrains.Grains.Storage;

namespace CallGrains.Grains.Calls;

/// <summary>
/// What a call hands on beyond its parties: the pushes and webhook events its transitions owe, given to the silo's
/// dispatchers after the outbox and forgotten once they report them done; busy attempts that owe some are stored too.
/// </summary>
public sealed partial class CallSessionGrain
{
    public Task PushesDone(string uid, PushKind kind, string? deviceId)
    {
        var pushes = state.State.Pushes.RemoveAll(p => p.Uid == uid && p.Kind == kind && p.DeviceId == deviceId);
        if (pushes.Length == state.State.Pushes.Length)
        {
            // A late report (a repeat after the call was archived) leaves no activation behind.
            LeaveIfNotLive();
            return Task.CompletedTask;
        }

        // Kept in memory, like a delivered outbox: the next transition stores it, and after a crash a push that was done
        // goes again with its id (at least once); a ring push only while its ring is on.
        state.State = state.State with { Pushes = pushes };
        return AfterHandedOnAsync();
    }

    public async Task RingByPush(string uid, string deviceId)
    {
        var now = time.GetUtcNow();
        if (!push.Enabled || Call is not { } call || call.Status.IsFinal() || state.State.RingDeadline is not { } deadline || deadline <= now
            || state.State.Pushes.Length >= MaxPushDues + (3 * call.Members.Length))
        {
            // Whether the user still rings for it is the user's answer when the push goes (a ring over is never pushed).
            LeaveIfNotLive();
            return;
        }

        var pushes = PushPlan.AddLateRing(state.State.Pushes, uid, deviceId, deadline);
        if (pushes == state.State.Pushes)
        {
            return;
        }

        // Stored first, like every push owed: a crash before it is sent leaves it to the wake-up of the ringing call.
        await state.WriteOrForgetAsync(state.State with { Pushes = pushes }, this);
        await DeliverAsync();
    }

    public Task WebhooksDone(ImmutableArray<string> ids)
    {
        var hooks = state.State.Webhooks.RemoveAll(h => ids.Contains(h.Id));
        if (hooks.Length != state.State.Webhooks.Length)
        {
            // Kept in memory like a delivered outbox: after a crash they are handed on again, and each endpoint's queue
            // skips the ones it has.
            state.State = state.State with { Webhooks = hooks };
            return AfterHandedOnAsync();
        }

        LeaveIfNotLive();
        return Task.CompletedTask;
    }

    /// <summary>Pushes or events were handed on: once nothing is owed, what waited for them (the archive, the wake-up at the deadline) goes on.</summary>
    private Task AfterHandedOnAsync()
    {
        if (!state.State.Owes && state.State.Outbox.IsEmpty && _redeliveryTimer is null)
        {
            AfterDelivery();
        }

        return Task.CompletedTask;
    }

    /// <summary>
    /// A busy attempt is in the histories before the answer. When it owes pushes (the callee's missed-call alert) or
    /// webhook events, it is also stored with them like any transition, and archived again (idempotent) once they are
    /// handed on; otherwise nothing is stored for it.
    /// </summary>
    private async Task SettleBusyAsync(CallInfo busy, string callerUid)
    {
        await log.AppendAsync(busy);
        if (push.Enabled || webhooks.Enabled)
        {
            await CommitAsync(busy, null, [], callerUid);
            return;
        }

        metrics.Settled(CallStatus.Busy);
        this.DeactivateOnIdle();
    }

    /// <summary>Hands the owed pushes of users with nothing left in the outbox to the silo's dispatcher; false if it was full.</summary>
    private bool DispatchPushes(HashSet<string> waiting)
    {
        var handed = true;
        if (Call is { } call)
        {
            foreach (var due in state.State.Pushes)
            {
                if (!waiting.Contains(due.Uid))
                {
                    handed &= push.Dispatch(SessionId, call, due);
                }
            }
        }

        return handed;
    }
}
