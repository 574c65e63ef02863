using System.Collections.Immutable;
using CallGrains.Client.Internal;

namespace CallGrains.Client.Tests;

/// <summary>The resync rules alone: which missed events a snapshot implies, why a call stopped ringing, the back-off's bounds.</summary>
public sealed class CallViewTests
{
    private const string Me = "me";

    [Fact]
    public void A_call_ringing_in_the_snapshot_only_is_an_incoming_call()
    {
        var call = Call("s1", "bob", CallStatus.Initiated);

        var missed = CallView.Diff(CallView.Empty, new CallView(null, [call]), Me, Busy(), initiating: false);

        Assert.Equal(InferredKind.IncomingCallReceived, Assert.Single(missed).Kind);
    }

    [Fact]
    public void A_ringing_call_that_became_the_active_one_was_answered_elsewhere()
    {
        var ringing = Call("s1", "bob", CallStatus.Initiated);
        var answered = Call("s1", "bob", CallStatus.Ongoing, "bob", Me);

        var missed = Assert.Single(CallView.Diff(new CallView(null, [ringing]), new CallView(answered, []), Me, Busy(), false));

        Assert.Equal((InferredKind.IncomingCallCanceled, CancelReason.AnsweredElsewhere, false), (missed.Kind, missed.Reason, missed.NeedsFinalState));
    }

    [Fact]
    public void A_ringing_call_that_vanished_asks_for_its_final_state()
    {
        var missed = Assert.Single(CallView.Diff(new CallView(null, [Call("s1", "bob", CallStatus.Initiated)]), CallView.Empty, Me, Busy(), false));

        Assert.Equal((InferredKind.IncomingCallCanceled, true), (missed.Kind, missed.NeedsFinalState));
    }

    [Fact]
    public void My_ringing_call_now_ongoing_was_accepted_and_a_vanished_one_is_gone()
    {
        var mine = Call("s1", Me, CallStatus.Initiated);

        var accepted = Assert.Single(CallView.Diff(new CallView(mine, []), new CallView(Call("s1", Me, CallStatus.Ongoing, Me, "bob"), []), Me, Busy(), false));
        var gone = Assert.Single(CallView.Diff(new CallView(mine, []), CallView.Empty, Me, Busy(), false));

        Assert.Equal(InferredKind.OutgoingCallAccepted, accepted.Kind);
        Assert.Equal((InferredKind.ActiveCallGone, true), (gone.Kind, gone.NeedsFinalState));
    }

    [Fact]
    public void Calls_with_a_request_in_flight_are_left_to_their_response()
    {
        var ringing = Call("s1", "bob", CallStatus.Initiated);
        var mine = Call("s2", Me, CallStatus.Ongoing, Me, "cat");

        Assert.Empty(CallView.Diff(new CallView(null, [ringing]), CallView.Empty, Me, Busy("s1"), false));
        Assert.Empty(CallView.Diff(CallView.Empty, new CallView(mine, []), Me, Busy(), initiating: true));
        Assert.Single(CallView.Diff(CallView.Empty, new CallView(mine, []), Me, Busy(), initiating: false));
    }

    [Fact]
    public void Group_participants_who_came_and_went_are_joins_and_leaves()
    {
        var before = Group(Call("g1", Me, CallStatus.Ongoing, Me, "bob"));
        var after = Group(Call("g1", Me, CallStatus.Ongoing, Me, "cat"));

        var missed = CallView.Diff(new CallView(before, []), new CallView(after, []), Me, Busy(), false);

        Assert.Equal(
            [(InferredKind.UserJoined, "cat"), (InferredKind.UserLeft, "bob")],
            missed.Select(m => (m.Kind, m.User!.Uid)));
    }

    [Theory]
    [InlineData(CallStatus.Cancelled, CancelReason.Cancelled)]
    [InlineData(CallStatus.Unanswered, CancelReason.Unanswered)]
    [InlineData(CallStatus.Rejected, CancelReason.RejectedElsewhere)]
    [InlineData(CallStatus.Busy, CancelReason.RejectedElsewhere)]
    [InlineData(CallStatus.Ended, CancelReason.AnsweredElsewhere)]
    public void Why_a_one_to_one_call_stopped_ringing_follows_its_final_status(CallStatus final, CancelReason reason) =>
        Assert.Equal(reason, CallView.ReasonFromFinal(Call("s1", "bob", final), Me));

    [Theory]
    [InlineData(MemberStatus.Joined, CallStatus.Ongoing, CancelReason.AnsweredElsewhere)]
    [InlineData(MemberStatus.Rejected, CallStatus.Ongoing, CancelReason.RejectedElsewhere)]
    [InlineData(MemberStatus.Unanswered, CallStatus.Ongoing, CancelReason.Unanswered)]
    [InlineData(MemberStatus.Unanswered, CallStatus.Cancelled, CancelReason.Cancelled)]
    public void Why_a_group_call_stopped_ringing_follows_this_members_status(MemberStatus member, CallStatus final, CancelReason reason)
    {
        var call = new CallInfo
        {
            SessionId = "g1",
            ReceiverId = "team",
            ReceiverType = ReceiverType.Group,
            Initiator = new CallUser("bob", "Bob"),
            Status = final,
            Members = [new CallMember(Me, "Me", member)],
        };

        Assert.Equal(reason, CallView.ReasonFromFinal(call, Me));
    }

    [Fact]
    public void Events_and_responses_keep_the_view()
    {
        var ringing = Call("s1", "bob", CallStatus.Initiated);
        var view = CallView.Empty.Apply("incomingCallReceived", ringing, null, null, Me);
        Assert.Single(view.Ringing);

        var accepted = view.ApplyResponse("acceptCall", ok: true, Call("s1", "bob", CallStatus.Ongoing, "bob", Me));
        Assert.Equal(("s1", 0), (accepted.Active?.SessionId, accepted.Ringing.Count));

        var ended = accepted.Apply("callEndedMessageReceived", Call("s1", "bob", CallStatus.Ended), null, null, Me);
        Assert.Equal(CallView.Empty.Active, ended.Active);

        var refused = view.ApplyResponse("acceptCall", ok: false, Call("s1", "bob", CallStatus.Cancelled));
        Assert.Empty(refused.Ringing);
    }

    [Fact]
    public void The_back_off_stays_between_its_floor_and_its_doubling_capped_ceiling()
    {
        var backoff = new Backoff(TimeSpan.FromSeconds(0.5), TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(0.25));
        for (var attempt = 0; attempt < 40; attempt++)
        {
            var ceiling = Math.Min(30, 0.5 * Math.Pow(2, attempt));
            for (var draw = 0; draw < 50; draw++)
            {
                Assert.InRange(backoff.Delay(attempt).TotalSeconds, 0.25, Math.Max(ceiling, 0.25));
            }
        }

        // Full jitter: late attempts spread over the whole range, not bunched at the cap.
        Assert.Contains(Enumerable.Range(0, 200).Select(_ => backoff.Delay(20).TotalSeconds), d => d < 15);
    }

    [Fact]
    public void A_log_query_sends_only_what_it_sets()
    {
        Assert.Equal("", WireFormat.LogQueryString(new CallLogQuery()));
        Assert.Equal(
            "?limit=5&cursor=a%2Bb&status=busy&callType=audio&direction=incoming&receiverType=group&missed=true",
            WireFormat.LogQueryString(new CallLogQuery { Limit = 5, Cursor = "a+b", Status = CallStatus.Busy, CallType = CallType.Audio, Direction = CallDirection.Incoming, ReceiverType = ReceiverType.Group, Missed = true }));
    }

    private static ImmutableHashSet<string> Busy(params string[] sessions) => [.. sessions];

    private static CallInfo Call(string session, string initiator, CallStatus status, params string[] present) => new()
    {
        SessionId = session,
        ReceiverId = initiator == Me ? "bob" : Me,
        Initiator = new CallUser(initiator, initiator),
        Status = status,
        Participants = [.. present.Select(uid => new CallParticipant(uid, DateTimeOffset.UnixEpoch, null))],
    };

    private static CallInfo Group(CallInfo call) => new()
    {
        SessionId = call.SessionId,
        ReceiverId = "team",
        ReceiverType = ReceiverType.Group,
        Initiator = call.Initiator,
        Status = call.Status,
        Participants = call.Participants,
        Members = [.. call.Participants.Where(p => p.Uid != call.Initiator.Uid).Select(p => new CallMember(p.Uid, p.Uid, MemberStatus.Joined))],
    };
}
