using CallGrains.Abstractions;

namespace CallGrains.Gateway.Sockets;

/// <summary>
/// Before a snapshot goes to a client (<c>welcome</c>, <c>sync</c>), the calls it names are checked against their
/// sessions: a failure between a session storing a change and telling the user (a silo dying at that instant) can
/// leave a user's slot naming a call that has settled. The gateway is not a grain, so asking the session to repair
/// the slot here adds no cycle. Costs one grain call per held call, nothing for a free user.
/// </summary>
public static class Reconciliation
{
    public static async Task<UserSnapshot> RepairAsync(IGrainFactory grains, IUserGrain user, UserSnapshot snapshot)
    {
        var repaired = false;
        foreach (var held in snapshot.Ringing.Prepend(snapshot.ActiveCall).OfType<CallInfo>())
        {
            var session = grains.Ref<ICallSessionGrain>(held.SessionId);
            var actual = await session.Peek();
            if (actual is null || actual.Status.IsFinal() || (actual.Status == CallStatus.Ongoing && held.Status != CallStatus.Ongoing))
            {
                await session.Reconcile(snapshot.Uid);
                repaired = true;
            }
        }

        return repaired ? await user.GetSnapshot() ?? snapshot : snapshot;
    }
}
