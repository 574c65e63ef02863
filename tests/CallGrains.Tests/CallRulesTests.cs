using CallGrains.Abstractions;
using CallGrains.Grains.Calls;

namespace CallGrains.Tests;

/// <summary>The rules of a 1:1 call on their own: no cluster, no clock, no storage; a call and a command in, a decision out.</summary>
public sealed class CallRulesTests
{
    private const string Caller = "alice";
    private const string Callee = "bob";
    private const string Stranger = "eve";
    private static readonly DateTimeOffset Start = new(2026, 11, 24, 12, 0, 0, TimeSpan.Zero);
    private static readonly DateTimeOffset Deadline = Start.AddSeconds(45);
    private static readonly DateTimeOffset Now = Start.AddSeconds(10);

    [Fact]
    public void The_callee_accepts_and_both_are_in_the_call()
    {
        var decision = CallRules.Accept(Ringing(), Callee, "bob-phone", Now);

        Assert.Null(decision.Refusal);
        var call = decision.Next!;
        Assert.Equal(CallStatus.Ongoing, call.Status);
        Assert.Equal(Now, call.JoinedAt);
        Assert.Equal([Caller, Callee], call.Participants.Select(p => p.Uid));
        Assert.Equal(
            [(Caller, SlotPhase.Ongoing, CallEventType.OutgoingCallAccepted, null, null), (Callee, SlotPhase.Ongoing, CallEventType.IncomingCallCanceled, CancelReason.AnsweredElsewhere, "bob-phone")],
            Updates(decision));
    }

    [Theory]
    [InlineData(Caller)]
    [InlineData(Stranger)]
    public void Only_the_callee_accepts_and_a_refusal_for_permission_shows_no_call(string uid)
    {
        var decision = CallRules.Accept(Ringing(), uid, null, Now);

        Assert.Null(decision.Next);
        Assert.Equal(CallErrorCode.PermissionDenied, decision.Refusal!.Error!.Code);
        Assert.Null(decision.Refusal.Call);
    }

    [Theory]
    [InlineData(CallStatus.Ongoing, CallErrorCode.CallAlreadyJoined)]
    [InlineData(CallStatus.Ended, CallErrorCode.CallEnded)]
    [InlineData(CallStatus.Cancelled, CallErrorCode.CallCancelled)]
    [InlineData(CallStatus.Rejected, CallErrorCode.CallRejected)]
    [InlineData(CallStatus.Busy, CallErrorCode.CallRejected)]
    [InlineData(CallStatus.Unanswered, CallErrorCode.CallUnanswered)]
    public void A_call_that_no_longer_rings_names_its_state(CallStatus status, CallErrorCode expected)
    {
        var view = Ringing() with { Call = Ringing().Call with { Status = status } };

        Assert.Equal(expected, CallRules.Accept(view, Callee, null, Now).Refusal!.Error!.Code);
        Assert.Equal(expected, CallRules.Reject(view, Caller, CallStatus.Cancelled, null, Now).Refusal!.Error!.Code);
    }

    [Theory]
    [InlineData("accept")]
    [InlineData("reject")]
    [InlineData("cancel")]
    public void A_request_after_the_deadline_times_the_call_out_first(string action)
    {
        var decision = action switch
        {
            "accept" => CallRules.Accept(Ringing(), Callee, null, Deadline),
            "reject" => CallRules.Reject(Ringing(), Callee, CallStatus.Rejected, null, Deadline),
            _ => CallRules.Reject(Ringing(), Caller, CallStatus.Cancelled, null, Deadline.AddSeconds(1)),
        };

        Assert.Equal(CallStatus.Unanswered, decision.Next!.Status);
        Assert.Equal(CallErrorCode.CallUnanswered, decision.Refusal!.Error!.Code);
        Assert.Equal(CallStatus.Unanswered, decision.Refusal.Call!.Status);
        Assert.Equal(
            [(Caller, SlotPhase.Free, CallEventType.OutgoingCallRejected, null, null), (Callee, SlotPhase.Free, CallEventType.IncomingCallCanceled, CancelReason.Unanswered, null)],
            Updates(decision));
    }

    [Theory]
    [InlineData(CallStatus.Rejected)]
    [InlineData(CallStatus.Busy)]
    public void A_callee_who_turns_the_call_down_declined_it(CallStatus status)
    {
        var decision = CallRules.Reject(Ringing(), Callee, status, "bob-phone", Now);

        Assert.Equal(status, decision.Next!.Status);
        Assert.Equal(Callee, Assert.Single(decision.Next.Declined));
        Assert.False(CallHistory.EntryFor(decision.Next, Callee).Missed);
        Assert.Equal(
            [(Caller, SlotPhase.Free, CallEventType.OutgoingCallRejected, null, null), (Callee, SlotPhase.Free, CallEventType.IncomingCallCanceled, CancelReason.RejectedElsewhere, "bob-phone")],
            Updates(decision));
    }

    [Fact]
    public void The_caller_cancels_and_the_callee_missed_it()
    {
        var decision = CallRules.Reject(Ringing(), Caller, CallStatus.Cancelled, "alice-laptop", Now);

        Assert.Equal(CallStatus.Cancelled, decision.Next!.Status);
        Assert.Empty(decision.Next.Declined);
        Assert.True(CallHistory.EntryFor(decision.Next, Callee).Missed);
        Assert.Equal(
            [(Callee, SlotPhase.Free, CallEventType.IncomingCallCanceled, CancelReason.Cancelled, null), (Caller, SlotPhase.Free, null, null, "alice-laptop")],
            Updates(decision));
    }

    [Theory]
    [InlineData(Callee, CallStatus.Cancelled, CallErrorCode.PermissionDenied)]
    [InlineData(Caller, CallStatus.Rejected, CallErrorCode.PermissionDenied)]
    [InlineData(Caller, CallStatus.Ended, CallErrorCode.BadRequest)]
    [InlineData(Stranger, CallStatus.Rejected, CallErrorCode.PermissionDenied)]
    public void Only_the_callee_rejects_and_only_the_caller_cancels(string uid, CallStatus status, CallErrorCode expected) =>
        Assert.Equal(expected, CallRules.Reject(Ringing(), uid, status, null, Now).Refusal!.Error!.Code);

    [Fact]
    public void Ending_an_ongoing_call_ends_it_for_both()
    {
        var ongoing = Ongoing();

        var decision = CallRules.End(ongoing, Callee, "bob-phone", Now.AddSeconds(30));

        Assert.Equal(CallStatus.Ended, decision.Next!.Status);
        Assert.All(decision.Next.Participants, p => Assert.Equal(Now.AddSeconds(30), p.LeftAt));
        Assert.Equal(30, decision.Next.Duration);
        Assert.Equal(
            [(Caller, SlotPhase.Free, CallEventType.CallEndedMessageReceived, null, null), (Callee, SlotPhase.Free, CallEventType.CallEndedMessageReceived, null, "bob-phone")],
            Updates(decision));
        Assert.Equal(CallErrorCode.CallEnded, CallRules.End(ongoing with { Call = decision.Next }, Caller, null, Now).Refusal!.Error!.Code);
    }

    [Theory]
    [InlineData(Caller, CallStatus.Cancelled)]
    [InlineData(Callee, CallStatus.Rejected)]
    public void Hanging_up_a_ringing_call_cancels_or_rejects_it(string uid, CallStatus expected) =>
        Assert.Equal(expected, CallRules.End(Ringing(), uid, null, Now).Next!.Status);

    [Theory]
    [InlineData("ongoing", Callee, CallStatus.Ended)]
    [InlineData("ringing", Caller, CallStatus.Cancelled)]
    [InlineData("ringing", Callee, CallStatus.Unanswered)]
    public void A_vanished_party_is_taken_out_of_the_call(string state, string uid, CallStatus expected)
    {
        var view = state == "ongoing" ? Ongoing() : Ringing();

        Assert.Equal(expected, CallRules.Abandon(view, uid, Now).Next!.Status);
        Assert.Same(Decision.Allowed, CallRules.Abandon(view, Stranger, Now));
    }

    [Fact]
    public void Signals_flow_between_the_participants_of_an_ongoing_call_only()
    {
        Assert.Null(CallRules.RefuseSignal(Ongoing(), Caller, Callee, 100));
        Assert.Equal(CallErrorCode.BadRequest, CallRules.RefuseSignal(Ringing(), Caller, Callee, 100)!.Error!.Code);
        Assert.Equal(CallErrorCode.BadRequest, CallRules.RefuseSignal(Ongoing(), Caller, Callee, Limits.MaxSignalBytes + 1)!.Error!.Code);
        Assert.Equal(CallErrorCode.PermissionDenied, CallRules.RefuseSignal(Ongoing(), Caller, Caller, 100)!.Error!.Code);
        Assert.Equal(CallErrorCode.PermissionDenied, CallRules.RefuseSignal(Ongoing(), Caller, Stranger, 100)!.Error!.Code);
        Assert.Null(CallRules.RefuseMedia(Ringing(), Callee));
        Assert.Equal(CallErrorCode.CallEnded, CallRules.RefuseMedia(Ongoing() with { Call = Ongoing().Call with { Status = CallStatus.Ended } }, Caller)!.Error!.Code);
    }

    [Theory]
    [InlineData("bad id", Caller, Callee, null, CallErrorCode.InvalidSessionId)]
    [InlineData("s1", Caller, Caller, null, CallErrorCode.CallingSelf)]
    [InlineData("s1", Caller, "no spaces", null, CallErrorCode.BadRequest)]
    [InlineData("s1", Caller, Callee, 4, CallErrorCode.BadRequest)]
    [InlineData("s1", Caller, Callee, 181, CallErrorCode.BadRequest)]
    public void Bad_initiate_requests_are_refused(string sessionId, string caller, string callee, int? timeout, CallErrorCode expected)
    {
        var request = new InitiateRequest { CallerUid = caller, ReceiverId = callee, TimeoutSeconds = timeout };

        Assert.Equal(expected, CallRules.RefuseInitiate(sessionId, request, idInUse: false)!.Error!.Code);
        Assert.Null(CallRules.RefuseInitiate("s1", request with { CallerUid = Caller, ReceiverId = Callee, TimeoutSeconds = 45 }, idInUse: false));
        Assert.Equal(CallErrorCode.BadRequest, CallRules.RefuseInitiate("s1", request with { CallerUid = Caller, ReceiverId = Callee, TimeoutSeconds = 45 }, idInUse: true)!.Error!.Code);
    }

    [Fact]
    public void A_new_call_rings_the_callee_and_a_busy_one_settles_at_once()
    {
        var request = new InitiateRequest { CallerUid = Caller, ReceiverId = Callee, CallType = CallType.Video, Metadata = "{\"a\":1}" };
        var call = CallRules.NewCall("s1", request, 30, Start);

        Assert.Equal((CallStatus.Initiated, CallType.Video, 30, "{\"a\":1}"), (call.Status, call.CallType, call.TimeoutSeconds, call.Metadata));
        Assert.Equal([(Callee, SlotPhase.Ringing, CallEventType.IncomingCallReceived, null, null)], Updates(CallRules.Ring(call)));
        var busy = CallRules.Busy(call, Now);
        Assert.Equal((CallStatus.Busy, Now), (busy.Status, busy.EndedAt));
        Assert.True(CallHistory.EntryFor(busy, Callee).Missed);
        Assert.False(CallHistory.EntryFor(busy, Caller).Missed);
    }

    private static CallView Ringing() => new(
        CallRules.NewCall("s1", new InitiateRequest { CallerUid = Caller, ReceiverId = Callee }, 45, Start),
        Callee,
        Deadline);

    private static CallView Ongoing() => Ringing() with { Call = CallRules.Accept(Ringing(), Callee, null, Now).Next!, RingDeadline = null };

    private static List<(string, SlotPhase, CallEventType?, CancelReason?, string?)> Updates(Decision decision) =>
        [.. decision.Updates.Select(u => (u.Uid, u.Phase, u.Event?.Type, u.Event?.Reason, u.ExceptDeviceId))];
}
