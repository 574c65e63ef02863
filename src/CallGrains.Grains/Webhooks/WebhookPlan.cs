using System.Collections.Immutable;
using CallGrains.Abstractions;

namespace CallGrains.Grains.Webhooks;

/// <summary>
/// One event a call owes the app's backend (PROTOCOL section 11), stored with the transition that caused it (in the
/// session's state, like its outbox) until every endpoint's queue has it. <see cref="Id"/> is the same however often it
/// is handed on (after a crash too), so each endpoint's queue takes it once and its <c>webhook-id</c> never changes.
/// </summary>
[GenerateSerializer, Immutable, Alias("cg.WebhookDue")]
public sealed record WebhookDue(
    [property: Id(0)] string Id,
    [property: Id(1)] string Type,
    [property: Id(2)] CallInfo Call,
    [property: Id(3)] DateTimeOffset At)
{
    /// <summary>Who acted, joined or left; null when nobody did (the ring timed out, a group call idled out).</summary>
    [Id(4)] public UserRef? User { get; init; }
}

/// <summary>Which events a transition causes: pure, so each rule is plain to read and to test.</summary>
public static class WebhookPlan
{
    /// <summary>
    /// The events of the transition from <paramref name="previous"/> (null: the call is new) to <paramref name="call"/>,
    /// in the order they happened: <c>call.initiated</c> for a new call; the status it moved to (accepted, rejected,
    /// busy, cancelled, unanswered, ended); for a group call, members who declined while it goes on, and participants
    /// who joined or left a live call. <paramref name="actor"/> is who asked for the transition, if anyone.
    /// </summary>
    public static ImmutableArray<WebhookDue> For(CallInfo? previous, CallInfo call, string? actor, long version, DateTimeOffset now)
    {
        var events = ImmutableArray.CreateBuilder<WebhookDue>();
        void Add(string type, string? uid) => events.Add(new WebhookDue($"{call.SessionId}.{version}.{events.Count}", type, call, now) { User = uid is null ? null : RefOf(call, uid) });

        if (previous is null)
        {
            Add(WebhookEvents.Initiated, call.Initiator.Uid);
        }

        if (call.IsGroup && call.Status.IsLive())
        {
            foreach (var member in call.Members)
            {
                if (member.Status == MemberStatus.Rejected && previous?.Members.FirstOrDefault(m => m.Uid == member.Uid)?.Status != MemberStatus.Rejected)
                {
                    Add(WebhookEvents.Rejected, member.Uid);
                }
            }
        }

        if (previous?.Status != call.Status && StatusEvent(call.Status) is { } status)
        {
            Add(status, call.Status switch
            {
                CallStatus.Unanswered => null,
                CallStatus.Cancelled => call.Initiator.Uid,
                CallStatus.Busy when !call.IsGroup => call.ReceiverId,
                CallStatus.Ongoing when call.IsGroup => FirstJoiner(call) ?? actor,
                _ => actor,
            });
        }

        // The initiator is in a new group call from the start: that is call.initiated, not a join.
        if (call.IsGroup && call.Status.IsLive() && previous is not null)
        {
            var before = previous.Participants;
            foreach (var joined in call.Participants.Where(p => p.LeftAt is null && !before.Any(b => b.Uid == p.Uid && b.JoinedAt == p.JoinedAt)))
            {
                Add(WebhookEvents.ParticipantJoined, joined.Uid);
            }

            foreach (var left in call.Participants.Where(p => p.LeftAt is not null && before.Any(b => b.Uid == p.Uid && b.JoinedAt == p.JoinedAt && b.LeftAt is null)))
            {
                Add(WebhookEvents.ParticipantLeft, left.Uid);
            }
        }

        return events.ToImmutable();
    }

    private static string? StatusEvent(CallStatus status) => status switch
    {
        CallStatus.Ongoing => WebhookEvents.Accepted,
        CallStatus.Rejected => WebhookEvents.Rejected,
        CallStatus.Busy => WebhookEvents.Busy,
        CallStatus.Cancelled => WebhookEvents.Cancelled,
        CallStatus.Unanswered => WebhookEvents.Unanswered,
        CallStatus.Ended => WebhookEvents.Ended,
        _ => null,
    };

    private static string? FirstJoiner(CallInfo call) =>
        call.Participants.Where(p => p.Uid != call.Initiator.Uid).OrderBy(p => p.JoinedAt).Select(p => p.Uid).FirstOrDefault();

    private static UserRef RefOf(CallInfo call, string uid) =>
        uid == call.Initiator.Uid ? call.Initiator
        : call.Members.FirstOrDefault(m => m.Uid == uid) is { } member ? new UserRef(uid, member.Name)
        : new UserRef(uid, "");
}
