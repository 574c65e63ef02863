using CallGrains.Abstractions;
using CallGrains.Grains.Calls;
using CallGrains.Grains.Users;

namespace CallGrains.Tests;

/// <summary>A user's slot decisions on their own: no cluster, no clock, no storage; a state and a request in, a decision out.</summary>
public sealed class SlotRulesTests
{
    private const string Alice = "alice";
    private const string Bob = "bob";
    private const string Carol = "carol";
    private static readonly DateTimeOffset Start = new(2026, 12, 2, 12, 0, 0, TimeSpan.Zero);

    private static readonly UserState Bobs = new() { Profile = new UserRef(Bob, "Bob"), Seq = 7 };

    [Fact]
    public void A_free_user_is_reserved_and_a_user_that_does_not_exist_is_not_found()
    {
        var request = Request(Call("s1", Alice, Bob), CallRole.Callee, Alice);

        var reserved = SlotRules.Reserve(Bobs, null, request);
        Assert.Equal((ReservationOutcome.Reserved, 7L, "Bob"), (reserved.Outcome, reserved.Seq, reserved.Profile!.Name));
        Assert.Equal(ReservationOutcome.UserNotFound, SlotRules.Reserve(new UserState(), null, request).Outcome);

        // The call that already holds the slot asks again (a retried initiate): still reserved.
        var held = SlotRules.Pending(Bobs, request);
        Assert.Equal(ReservationOutcome.Reserved, SlotRules.Reserve(Bobs with { Slot = held }, held, request).Outcome);
    }

    [Theory]
    [InlineData(SlotPhase.Pending, CallRole.Caller, Alice, ReservationOutcome.Glare)]
    [InlineData(SlotPhase.Ringing, CallRole.Caller, Alice, ReservationOutcome.Glare)]
    [InlineData(SlotPhase.Ongoing, CallRole.Caller, Alice, ReservationOutcome.Taken)]
    [InlineData(SlotPhase.Ringing, CallRole.Callee, Alice, ReservationOutcome.Taken)]
    [InlineData(SlotPhase.Ringing, CallRole.Caller, Carol, ReservationOutcome.Taken)]
    public void Two_users_calling_each_other_meet_and_anyone_else_finds_the_user_taken(SlotPhase phase, CallRole heldRole, string heldPeer, ReservationOutcome expected)
    {
        // Bob's slot holds his own call s1; a new call s2 from Alice reaches him as callee.
        var slot = new CallSlot { Call = Call("s1", Bob, heldPeer), Role = heldRole, PeerId = heldPeer, Phase = phase };
        var answer = SlotRules.Reserve(Bobs with { Slot = slot }, slot, Request(Call("s2", Alice, Bob), CallRole.Callee, Alice));

        Assert.Equal(expected, answer.Outcome);
        Assert.Equal(("s1", heldRole, phase), (answer.HeldBy, answer.HeldRole, answer.HeldPhase));
    }

    [Fact]
    public void A_group_call_never_meets_a_1to1_call_in_glare()
    {
        var slot = new CallSlot { Call = Call("s1", Bob, Alice), Role = CallRole.Caller, PeerId = Alice, Phase = SlotPhase.Ringing };
        var group = Call("g1", Alice, "group-1") with { ReceiverType = ReceiverType.Group };

        Assert.Equal(ReservationOutcome.Taken, SlotRules.Reserve(Bobs with { Slot = slot }, slot, Request(group, CallRole.Callee, Alice)).Outcome);
    }

    [Fact]
    public void The_callers_pending_slot_shows_the_callers_own_profile()
    {
        var alices = new UserState { Profile = new UserRef(Alice, "Alice Real Name") };
        var call = Call("s1", Alice, Bob);

        var slot = SlotRules.Pending(alices, Request(call, CallRole.Caller, Bob));

        Assert.Equal(("Alice Real Name", SlotPhase.Pending, Start.AddSeconds(45)), (slot.Call.Initiator.Name, slot.Phase, slot.ExpiresAt));
        Assert.Equal("alice", SlotRules.Pending(Bobs, Request(call, CallRole.Callee, Alice)).Call.Initiator.Name);
    }

    [Fact]
    public void A_ringing_slot_lapses_after_its_expiry_and_an_ongoing_one_never_does()
    {
        var slot = new CallSlot { Call = Call("s1", Alice, Bob), Role = CallRole.Callee, PeerId = Alice, Phase = SlotPhase.Ringing, ExpiresAt = Start };

        Assert.False(SlotRules.IsLapsed(slot, Start));
        Assert.True(SlotRules.IsLapsed(slot, Start.AddTicks(1)));
        Assert.False(SlotRules.IsLapsed(slot with { Phase = SlotPhase.Ongoing }, Start.AddHours(1)));
        Assert.False(SlotRules.IsLapsed(slot with { ExpiresAt = null }, Start.AddHours(1)));
    }

    [Fact]
    public void An_update_is_applied_once_whether_the_slot_still_holds_its_call_or_the_call_let_the_user_go()
    {
        var call = Call("s1", Alice, Bob);
        var slot = new CallSlot { Call = call, Role = CallRole.Callee, PeerId = Alice, Phase = SlotPhase.Ringing, Version = 3 };
        var state = Bobs with { Slot = slot, Settled = [new AppliedUpdate("s0", 5)] };

        Assert.True(SlotRules.IsRepeat(state, slot, Update(call, SlotPhase.Ringing, 3)));
        Assert.False(SlotRules.IsRepeat(state, slot, Update(call, SlotPhase.Ongoing, 4)));
        Assert.True(SlotRules.IsRepeat(state, slot, Update(Call("s0", Alice, Bob), SlotPhase.Free, 5)));
        Assert.False(SlotRules.IsRepeat(state, slot, Update(Call("s0", Alice, Bob), SlotPhase.Free, 6)));

        // Unversioned releases (of a call never stored) are never taken for repeats.
        Assert.False(SlotRules.IsRepeat(state, null, Update(Call("s0", Alice, Bob), SlotPhase.Free, 0)));
    }

    [Fact]
    public void An_event_takes_the_next_seq_and_is_kept_for_redelivery()
    {
        var call = Call("s1", Alice, Bob);
        var slot = new CallSlot { Call = call, Role = CallRole.Callee, PeerId = Alice, Phase = SlotPhase.Pending, Version = 1 };
        var update = Update(call, SlotPhase.Ringing, 2) with { Event = new CallEvent { Type = CallEventType.IncomingCallReceived }, ExceptDeviceId = "tablet" };

        var (next, delivery, mismatch) = SlotRules.Apply(Bob, Bobs with { Slot = slot }, slot, update);

        Assert.False(mismatch);
        Assert.Equal((SlotPhase.Ringing, 2L, 8L), (next.Slot!.Phase, next.Slot.Version, next.Seq));
        Assert.Equal((Bob, "tablet", 8L, "s1"), (delivery!.Uid, delivery.ExceptDeviceId, delivery.Event!.Seq, delivery.Event.Call!.SessionId));
        Assert.Equal(new SentEvent(new AppliedUpdate("s1", 2), delivery), next.LastEvent);
    }

    [Fact]
    public void A_release_frees_the_slot_and_is_remembered_and_nothing_changes_without_an_event()
    {
        var call = Call("s1", Alice, Bob);
        var slot = new CallSlot { Call = call, Role = CallRole.Callee, PeerId = Alice, Phase = SlotPhase.Ongoing, Version = 4 };

        var (next, delivery, _) = SlotRules.Apply(Bob, Bobs with { Slot = slot }, slot, Update(call, SlotPhase.Free, 5));

        Assert.Null(next.Slot);
        Assert.Null(delivery);
        Assert.Equal(7L, next.Seq);
        Assert.Equal([new AppliedUpdate("s1", 5)], next.Settled.ToArray());

        // An unversioned release of a call that is not in the slot: the same state, so the grain stores nothing.
        var free = Bobs with { Slot = null };
        Assert.Same(free, SlotRules.Apply(Bob, free, null, Update(Call("s9", Alice, Bob), SlotPhase.Free, 0)).Next);
    }

    [Fact]
    public void An_update_for_a_call_the_slot_does_not_hold_is_a_mismatch_and_changes_no_slot()
    {
        var held = new CallSlot { Call = Call("s1", Carol, Bob), Role = CallRole.Callee, PeerId = Carol, Phase = SlotPhase.Ongoing, Version = 2 };
        var state = Bobs with { Slot = held };

        var change = SlotRules.Apply(Bob, state, held, Update(Call("s2", Alice, Bob), SlotPhase.Ringing, 1));

        Assert.True(change.Mismatch);
        Assert.Same(held, change.Next.Slot);
        Assert.Equal([new AppliedUpdate("s2", 1)], change.Next.Settled.ToArray());
        Assert.False(SlotRules.Apply(Bob, state, held, Update(Call("s2", Alice, Bob), SlotPhase.Free, 1)).Mismatch);
    }

    [Fact]
    public void A_user_whose_stale_slot_lapsed_still_joins_the_call_that_went_ongoing()
    {
        var call = Call("s1", Alice, Bob) with { Status = CallStatus.Ongoing };

        var next = SlotRules.Apply(Bob, Bobs, null, Update(call, SlotPhase.Ongoing, 3)).Next;

        Assert.Equal((CallRole.Callee, Alice, SlotPhase.Ongoing, 3L), (next.Slot!.Role, next.Slot.PeerId, next.Slot.Phase, next.Slot.Version));
        Assert.Equal((CallRole.Caller, Bob), (SlotRules.Apply(Alice, Bobs, null, Update(call, SlotPhase.Ongoing, 3)).Next.Slot!.Role, SlotRules.Apply(Alice, Bobs, null, Update(call, SlotPhase.Ongoing, 3)).Next.Slot!.PeerId));
    }

    [Fact]
    public void Remembered_updates_keep_one_per_call_newest_last_and_at_most_the_cap()
    {
        var settled = SlotRules.Remember([], new AppliedUpdate("a", 1));
        settled = SlotRules.Remember(settled, new AppliedUpdate("b", 1));
        settled = SlotRules.Remember(settled, new AppliedUpdate("a", 3));
        Assert.Equal([new AppliedUpdate("b", 1), new AppliedUpdate("a", 3)], settled.ToArray());

        for (var i = 0; i < SlotRules.MaxSettled * 3; i++)
        {
            settled = SlotRules.Remember(settled, new AppliedUpdate($"c{i}", i));
        }

        Assert.Equal(SlotRules.MaxSettled, settled.Length);
        Assert.Equal(new AppliedUpdate($"c{(SlotRules.MaxSettled * 3) - 1}", (SlotRules.MaxSettled * 3) - 1), settled[^1]);
        Assert.Equal(new AppliedUpdate($"c{SlotRules.MaxSettled * 2}", SlotRules.MaxSettled * 2), settled[0]);
    }

    [Theory]
    [InlineData(CallRole.Callee, SlotPhase.Ringing, false, true)]
    [InlineData(CallRole.Callee, SlotPhase.Pending, false, false)]
    [InlineData(CallRole.Callee, SlotPhase.Ongoing, true, false)]
    [InlineData(CallRole.Caller, SlotPhase.Pending, true, false)]
    [InlineData(CallRole.Caller, SlotPhase.Ringing, true, false)]
    public void A_device_sees_its_ringing_call_as_ringing_and_its_own_or_answered_call_as_active(CallRole role, SlotPhase phase, bool active, bool ringing)
    {
        var slot = new CallSlot { Call = Call("s1", Alice, Bob), Role = role, PeerId = Alice, Phase = phase };

        var snapshot = SlotRules.Snapshot(Bob, Bobs with { Slot = slot }, slot)!;

        Assert.Equal((active, ringing, 7L, "Bob"), (snapshot.ActiveCall is not null, !snapshot.Ringing.IsEmpty, snapshot.Seq, snapshot.Name));
        Assert.Null(SlotRules.Snapshot(Bob, new UserState(), null));
        Assert.True(SlotRules.Snapshot(Bob, Bobs, null) is { ActiveCall: null, Ringing.IsEmpty: true });
    }

    private static CallInfo Call(string sessionId, string caller, string callee) =>
        CallRules.NewCall(sessionId, new InitiateRequest { CallerUid = caller, ReceiverId = callee }, 45, Start);

    private static SlotRequest Request(CallInfo call, CallRole role, string peer) =>
        new() { Call = call, Role = role, PeerId = peer, ExpiresAt = Start.AddSeconds(45) };

    private static SlotUpdate Update(CallInfo call, SlotPhase phase, long version) => new() { Call = call, Phase = phase, Version = version };
}
