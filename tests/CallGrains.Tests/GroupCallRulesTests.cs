using CallGrains.Abstractions;
using CallGrains.Grains.Calls;

namespace CallGrains.Tests;

/// <summary>The rules of a group call on their own: a call and a command in, a decision out; no cluster, no clock.</summary>
public sealed class GroupCallRulesTests
{
    private const string Initiator = "ann";
    private static readonly string[] Others = ["bob", "cat", "dan"];
    private static readonly DateTimeOffset Start = new(2026, 11, 30, 12, 0, 0, TimeSpan.Zero);
    private static readonly DateTimeOffset Now = Start.AddSeconds(10);

    [Fact]
    public void Ringing_a_group_rings_the_members_marked_ringing_and_not_the_busy_ones()
    {
        var call = Ringing(("bob", MemberStatus.Ringing), ("cat", MemberStatus.Busy), ("dan", MemberStatus.Ringing));

        var decision = GroupCallRules.Ring(call);

        Assert.Equal(["bob", "dan"], decision.Updates.Select(u => u.Uid));
        Assert.All(decision.Updates, u => Assert.Equal((SlotPhase.Ringing, CallEventType.IncomingCallReceived), (u.Phase, u.Event!.Type)));
    }

    [Fact]
    public void The_first_accept_makes_it_ongoing_and_tells_the_initiator_accepted_then_joined()
    {
        var decision = GroupCallRules.Accept(View(Ringing()), "bob", "bob-phone", Now);

        Assert.Null(decision.Refusal);
        Assert.Equal(CallStatus.Ongoing, decision.Next!.Status);
        Assert.Equal(Now, decision.Next.JoinedAt);
        Assert.Equal(
            [
                ("ann", CallEventType.OutgoingCallAccepted, null),
                ("ann", CallEventType.UserJoined, "bob"),
                ("bob", CallEventType.IncomingCallCanceled, null),
            ],
            decision.Updates.Select(u => (u.Uid, u.Event!.Type, u.Event.User?.Uid)));
        Assert.Equal("bob-phone", decision.Updates[^1].ExceptDeviceId);
    }

    [Fact]
    public void A_later_accept_tells_everyone_in_the_call_joined_and_the_initiator_only_that()
    {
        var call = Apply(Ringing(), c => GroupCallRules.Accept(View(c), "bob", null, Now));

        var decision = GroupCallRules.Accept(View(call), "cat", null, Now.AddSeconds(1));

        Assert.Equal(
            [("ann", CallEventType.UserJoined), ("bob", CallEventType.UserJoined), ("cat", CallEventType.IncomingCallCanceled)],
            decision.Updates.Select(u => (u.Uid, u.Event!.Type)));
        Assert.Equal(Now, decision.Next!.JoinedAt);
    }

    [Fact]
    public void Rejects_stop_only_the_rejecters_ringing_until_the_last_one_ends_the_call_as_rejected()
    {
        var call = Ringing();
        call = Apply(call, c => GroupCallRules.Reject(View(c), "bob", CallStatus.Rejected, null, Now));
        Assert.Equal(CallStatus.Initiated, call.Status);
        call = Apply(call, c => GroupCallRules.Reject(View(c), "cat", CallStatus.Busy, null, Now));

        var last = GroupCallRules.Reject(View(call), "dan", CallStatus.Rejected, null, Now);

        Assert.Equal(CallStatus.Rejected, last.Next!.Status);
        Assert.Equal(["bob", "cat", "dan"], last.Next.Declined.AsEnumerable());
        Assert.Equal([("dan", SlotPhase.Free), ("ann", SlotPhase.Free)], last.Updates.Select(u => (u.Uid, u.Phase)));
        Assert.Equal(CallEventType.OutgoingCallRejected, last.Updates[^1].Event!.Type);
    }

    [Fact]
    public void A_reject_and_a_time_out_before_anyone_joined_end_it_unanswered()
    {
        var call = Apply(Ringing(), c => GroupCallRules.Reject(View(c), "bob", CallStatus.Rejected, null, Now));

        var decision = GroupCallRules.TimeOut(View(call), Now.AddSeconds(40));

        Assert.Equal(CallStatus.Unanswered, decision.Next!.Status);
        Assert.Equal(MemberStatus.Unanswered, decision.Next.MemberStatusOf("cat"));
        Assert.Equal(
            [("cat", CancelReason.Unanswered), ("dan", CancelReason.Unanswered), ("ann", (CancelReason?)null)],
            decision.Updates.Select(u => (u.Uid, u.Event!.Reason)));
    }

    [Fact]
    public void A_time_out_after_someone_joined_stops_the_ringing_and_the_call_goes_on()
    {
        var call = Apply(Ringing(), c => GroupCallRules.Accept(View(c), "bob", null, Now));

        var decision = GroupCallRules.TimeOut(View(call), Now.AddSeconds(40));

        Assert.Equal(CallStatus.Ongoing, decision.Next!.Status);
        Assert.Equal(["cat", "dan"], decision.Updates.Select(u => u.Uid));
        Assert.False(GroupCallRules.Rings(decision.Next));
    }

    [Fact]
    public void The_last_participant_leaving_ends_the_call_and_stops_whoever_still_rings()
    {
        var call = Apply(Ringing(), c => GroupCallRules.Accept(View(c), "bob", null, Now));
        call = Apply(call, c => GroupCallRules.Leave(View(c), Initiator, null, Now));
        Assert.Equal(CallStatus.Ongoing, call.Status);
        Assert.True(GroupCallRules.Alone(call));

        var last = GroupCallRules.Leave(View(call), "bob", "bob-laptop", Now.AddSeconds(5));

        Assert.Equal(CallStatus.Ended, last.Next!.Status);
        Assert.Equal(
            [("bob", CallEventType.CallEndedMessageReceived), ("cat", CallEventType.IncomingCallCanceled), ("dan", CallEventType.IncomingCallCanceled)],
            last.Updates.Select(u => (u.Uid, u.Event!.Type)));
        Assert.All(last.Next.Participants, p => Assert.NotNull(p.LeftAt));
    }

    [Fact]
    public void The_initiators_end_ends_it_for_all_and_anyone_elses_is_a_leave()
    {
        var call = Apply(Ringing(), c => GroupCallRules.Accept(View(c), "bob", null, Now));
        call = Apply(call, c => GroupCallRules.Accept(View(c), "cat", null, Now));

        var byMember = GroupCallRules.End(View(call), "cat", null, Now);
        var byInitiator = GroupCallRules.End(View(call), Initiator, null, Now);

        Assert.Equal((CallStatus.Ongoing, "left"), (byMember.Next!.Status, byMember.Outcome));
        Assert.Equal(CallStatus.Ended, byInitiator.Next!.Status);
        Assert.Equal(["ann", "bob", "cat", "dan"], byInitiator.Updates.Select(u => u.Uid));
    }

    [Fact]
    public void Only_the_initiator_cancels_and_only_while_nobody_joined()
    {
        Assert.Equal(CallErrorCode.PermissionDenied, GroupCallRules.Reject(View(Ringing()), "bob", CallStatus.Cancelled, null, Now).Refusal!.Error!.Code);
        var cancelled = GroupCallRules.Reject(View(Ringing()), Initiator, CallStatus.Cancelled, null, Now);
        Assert.Equal(CallStatus.Cancelled, cancelled.Next!.Status);
        Assert.All(cancelled.Updates.SkipLast(1), u => Assert.Equal(CancelReason.Cancelled, u.Event!.Reason));

        var ongoing = Apply(Ringing(), c => GroupCallRules.Accept(View(c), "bob", null, Now));
        Assert.Equal(CallErrorCode.CallAlreadyJoined, GroupCallRules.Reject(View(ongoing), Initiator, CallStatus.Cancelled, null, Now).Refusal!.Error!.Code);
    }

    [Fact]
    public void Strangers_and_members_not_ringing_are_refused()
    {
        var call = Apply(Ringing(), c => GroupCallRules.Reject(View(c), "bob", CallStatus.Rejected, null, Now));

        Assert.Equal(CallErrorCode.PermissionDenied, GroupCallRules.Accept(View(call), "eve", null, Now).Refusal!.Error!.Code);
        Assert.Equal(CallErrorCode.PermissionDenied, GroupCallRules.Accept(View(call), "bob", null, Now).Refusal!.Error!.Code);
        Assert.Equal(CallErrorCode.PermissionDenied, GroupCallRules.Leave(View(call), "bob", null, Now).Refusal!.Error!.Code);
        Assert.Equal(CallErrorCode.PermissionDenied, GroupCallRules.Accept(View(call), Initiator, null, Now).Refusal!.Error!.Code);
    }

    [Fact]
    public void A_vanished_participant_leaves_a_vanished_ringing_member_stops_ringing_unanswered()
    {
        var call = Apply(Ringing(), c => GroupCallRules.Accept(View(c), "bob", null, Now));

        var ringing = GroupCallRules.Abandon(View(call), "cat", Now);
        var participant = GroupCallRules.Abandon(View(call), "bob", Now);

        Assert.Equal(MemberStatus.Unanswered, ringing.Next!.MemberStatusOf("cat"));
        Assert.Equal(CallStatus.Ongoing, ringing.Next.Status);
        Assert.False(participant.Next!.IsPresent("bob"));
        Assert.Same(Decision.Allowed, GroupCallRules.Abandon(View(call), "eve", Now));
    }

    [Fact]
    public void Idle_end_ends_only_a_call_with_one_participant_left()
    {
        var two = Apply(Ringing(), c => GroupCallRules.Accept(View(c), "bob", null, Now));
        var one = Apply(two, c => GroupCallRules.Leave(View(c), "bob", null, Now));

        Assert.Same(Decision.Allowed, GroupCallRules.IdleEnd(View(two), Now));
        var ended = GroupCallRules.IdleEnd(View(one), Now.AddMinutes(3));
        Assert.Equal(CallStatus.Ended, ended.Next!.Status);
        Assert.Contains(ended.Updates, u => u.Uid == Initiator && u.Event!.Type == CallEventType.CallEndedMessageReceived);
    }

    [Fact]
    public void The_log_lists_every_member_and_tells_who_missed_it()
    {
        var call = Apply(Ringing(("bob", MemberStatus.Ringing), ("cat", MemberStatus.Busy), ("dan", MemberStatus.Ringing)), c => GroupCallRules.Accept(View(c), "bob", null, Now));
        call = Apply(call, c => GroupCallRules.End(View(c), Initiator, null, Now));

        var entries = CallHistory.Entries(call).ToDictionary(e => e.Uid, e => (e.Entry.Direction, e.Entry.Missed));

        Assert.Equal((CallDirection.Outgoing, false), entries[Initiator]);
        Assert.Equal((CallDirection.Incoming, false), entries["bob"]);
        Assert.Equal((CallDirection.Incoming, true), entries["cat"]);
        Assert.Equal((CallDirection.Incoming, true), entries["dan"]);
    }

    private static CallInfo Ringing(params (string Uid, MemberStatus Status)[] members)
    {
        var request = new InitiateRequest { CallerUid = Initiator, ReceiverId = "team", ReceiverType = ReceiverType.Group, CallType = CallType.Video };
        var listed = members.Length > 0 ? members : Others.Select(o => (Uid: o, Status: MemberStatus.Ringing)).ToArray();
        return GroupCallRules.Start(
            CallRules.NewCall("s1", request, 45, Start),
            new UserRef(Initiator, "Ann"),
            listed.Select(m => new CallMember(m.Uid, m.Uid.ToUpperInvariant(), m.Status)),
            Start);
    }

    private static CallView View(CallInfo call) => new(call, "", Start.AddSeconds(45));

    private static CallInfo Apply(CallInfo call, Func<CallInfo, Decision> command)
    {
        var decision = command(call);
        Assert.Null(decision.Refusal);
        return decision.Next!;
    }
}
