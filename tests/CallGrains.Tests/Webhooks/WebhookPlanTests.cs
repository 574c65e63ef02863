using CallGrains.Abstractions;
using CallGrains.Grains.Webhooks;

namespace CallGrains.Tests.Webhooks;

/// <summary>Which events each transition causes, and who they name (PROTOCOL section 11).</summary>
public sealed class WebhookPlanTests
{
    internal static readonly DateTimeOffset Now = new(2026, 12, 2, 10, 0, 0, TimeSpan.Zero);

    /// <summary>A 1:1 call alice -> bob just initiated (session s1): the webhook tests' call.</summary>
    internal static readonly CallInfo Ringing = new()
    {
        SessionId = "s1",
        CallType = CallType.Audio,
        ReceiverType = ReceiverType.User,
        ReceiverId = "bob",
        Initiator = new UserRef("alice", "Alice"),
        Status = CallStatus.Initiated,
        InitiatedAt = Now,
    };

    [Fact]
    public void A_busy_attempt_is_initiated_then_busy_naming_the_callee()
    {
        var busy = WebhookPlan.For(null, Ringing with { Status = CallStatus.Busy }, "alice", 1, Now);
        Assert.Equal([(WebhookEvents.Initiated, "alice"), (WebhookEvents.Busy, "bob")], busy.Select(e => (e.Type, e.User?.Uid)));
        Assert.Equal(["s1.1.0", "s1.1.1"], busy.Select(e => e.Id));
    }

    [Fact]
    public void A_ring_that_timed_out_names_nobody_and_a_cancel_names_the_caller_whoever_asked()
    {
        Assert.Null(Assert.Single(WebhookPlan.For(Ringing, Ringing with { Status = CallStatus.Unanswered }, null, 3, Now)).User);
        Assert.Equal("alice", Assert.Single(WebhookPlan.For(Ringing, Ringing with { Status = CallStatus.Cancelled }, "bob", 3, Now)).User?.Uid);
        Assert.Empty(WebhookPlan.For(Ringing, Ringing, "alice", 3, Now));
    }

    [Fact]
    public void An_accepted_call_names_who_accepted_and_the_ids_follow_the_transition()
    {
        var accepted = Assert.Single(WebhookPlan.For(Ringing, Ringing with { Status = CallStatus.Ongoing }, "bob", 7, Now));
        Assert.Equal((WebhookEvents.Accepted, "bob", "s1.7.0"), (accepted.Type, accepted.User?.Uid, accepted.Id));
    }
}
