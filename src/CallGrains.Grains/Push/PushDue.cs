using System.Collections.Immutable;
using CallGrains.Abstractions;
using CallGrains.Grains.Calls;

namespace CallGrains.Grains.Push;

/// <summary>
/// Pushes of one kind a call owes one user (PROTOCOL section 10), stored with the transition that made them owed (the
/// session's outbox write) and kept until the silo's <see cref="PushDispatcher"/> says they were sent or given up. Which
/// devices get them is the user grain's answer at send time, so a ring that ended meanwhile is never pushed.
/// </summary>
[GenerateSerializer, Immutable, Alias("cg.PushDue")]
public sealed record PushDue(
    [property: Id(0)] string Uid,
    [property: Id(1)] PushKind Kind,
    [property: Id(2)] DateTimeOffset ExpiresAt)
{
    /// <summary>Why the ringing stopped (cancel pushes).</summary>
    [Id(3)] public CancelReason? Reason { get; init; }

    /// <summary>The device that answered or declined (cancel pushes): it knows, and gets no push.</summary>
    [Id(4)] public string? ExceptDeviceId { get; init; }

    /// <summary>A ring pushed late to this one device, whose socket went while the call rang (null: every device with no socket).</summary>
    [Id(5)] public string? DeviceId { get; init; }
}

/// <summary>Which pushes a transition owes: pure, so each rule is plain to read and to test.</summary>
public static class PushPlan
{
    /// <summary>
    /// How long a cancel push stays worth sending: a phone that rang from a push and was off the network a while still
    /// needs to stop ringing (its own ring timeout usually ends it sooner).
    /// </summary>
    public static readonly TimeSpan CancelLife = TimeSpan.FromMinutes(2);

    /// <summary>How long a missed-call alert stays worth sending (APNs and FCM keep it for a phone that is off until then).</summary>
    public static readonly TimeSpan MissedLife = TimeSpan.FromHours(1);

    /// <summary>
    /// <paramref name="pending"/> with the pushes of one transition added: a ring push for each user an update starts
    /// ringing (<c>incomingCallReceived</c>), a cancel push for each user whose ringing it stops
    /// (<c>incomingCallCanceled</c>, with its reason), and when the call settles, a missed-call alert for each party it
    /// was missed by (section 8: an incoming call they neither joined nor declined). One of each kind per user and call.
    /// </summary>
    public static ImmutableArray<PushDue> Add(
        ImmutableArray<PushDue> pending,
        CallInfo call,
        IEnumerable<OutboxItem> items,
        bool settles,
        DateTimeOffset now,
        DateTimeOffset? ringDeadline,
        bool missedAlerts)
    {
        var next = pending.ToBuilder();
        foreach (var (uid, update) in items)
        {
            switch (update.Event?.Type)
            {
                case CallEventType.IncomingCallReceived when ringDeadline is { } deadline && deadline > now:
                    AddOnce(next, new PushDue(uid, PushKind.Ring, deadline));
                    break;
                case CallEventType.IncomingCallCanceled:
                    AddOnce(next, new PushDue(uid, PushKind.Cancel, now + CancelLife) { Reason = update.Event.Reason, ExceptDeviceId = update.ExceptDeviceId });
                    break;
            }
        }

        if (settles && missedAlerts)
        {
            foreach (var (uid, entry) in CallHistory.Entries(call))
            {
                if (entry.Missed)
                {
                    AddOnce(next, new PushDue(uid, PushKind.Missed, now + MissedLife));
                }
            }
        }

        return next.Count == pending.Length ? pending : next.ToImmutable();
    }

    /// <summary>
    /// <paramref name="pending"/> with a ring push to one device of <paramref name="uid"/> that lost its socket while
    /// the call rang (<see cref="ICallSessionGrain.RingByPush"/>); unchanged when that push is owed already.
    /// </summary>
    public static ImmutableArray<PushDue> AddLateRing(ImmutableArray<PushDue> pending, string uid, string deviceId, DateTimeOffset ringDeadline)
    {
        var next = pending.ToBuilder();
        AddOnce(next, new PushDue(uid, PushKind.Ring, ringDeadline) { DeviceId = deviceId });
        return next.Count == pending.Length ? pending : next.ToImmutable();
    }

    private static void AddOnce(ImmutableArray<PushDue>.Builder pushes, PushDue due)
    {
        if (!pushes.Any(p => p.Uid == due.Uid && p.Kind == due.Kind && p.DeviceId == due.DeviceId))
        {
            pushes.Add(due);
        }
    }
}
