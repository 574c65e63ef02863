using CallGrains.Abstractions;

namespace CallGrains.Tests;

/// <summary>A group call's deadlines on a fake clock: the ring timeout for whoever still rings, and the idle end.</summary>
[Collection(FakeClockGroup.Name)]
public sealed class GroupTimeoutTests(FakeClockFixture fixture)
{
    private const int RingSeconds = 20;
    private readonly CallTestKit _kit = new(fixture.Cluster);

    [Fact]
    public async Task Nobody_answering_ends_the_call_unanswered_for_everyone_at_the_deadline()
    {
        var (call, m) = await RingGroupAsync(4);
        var probe = await _kit.WatchAsync(m);

        await fixture.AdvanceAsync(TimeSpan.FromSeconds(RingSeconds) - TimeSpan.FromMilliseconds(1));
        Assert.Equal(CallStatus.Initiated, (await _kit.Session(call.SessionId).Peek())!.Status);
        await fixture.AdvanceAsync(TimeSpan.FromMilliseconds(1));

        await StatusAsync(call, CallStatus.Unanswered);
        var settled = (await _kit.Session(call.SessionId).Peek())!;
        Assert.All(settled.Members, x => Assert.Equal(MemberStatus.Unanswered, x.Status));
        await probe.WaitForAsync(m[0], 1);
        Assert.Equal([CallEventType.OutgoingCallRejected], probe.TypesFor(m[0]));
        foreach (var uid in m[1..])
        {
            await probe.WaitForAsync(uid, 1);
            Assert.Equal(CancelReason.Unanswered, probe.For(uid)[0].Reason);
        }

        await _kit.AssertFreeAsync(m);
    }

    [Fact]
    public async Task After_someone_joined_the_deadline_stops_only_the_ringing_and_a_late_accept_is_unanswered()
    {
        var (call, m) = await RingGroupAsync(4);
        var session = _kit.Session(call.SessionId);
        Assert.True((await session.AcceptCall(m[1], null)).Ok);

        await fixture.AdvanceAsync(TimeSpan.FromSeconds(RingSeconds));

        await CallTestKit.EventuallyAsync(async () => !(await session.Peek())!.Members.Any(x => x.Status == MemberStatus.Ringing), "ringing stopped");
        Assert.Equal(CallStatus.Ongoing, (await session.Peek())!.Status);
        await _kit.EventuallyFreeAsync(m[2], m[3]);
        Assert.Equal(CallErrorCode.PermissionDenied, (await session.AcceptCall(m[2], null)).Error?.Code);

        // They can still join it.
        Assert.True((await session.JoinCall(m[2], null)).Ok);
        Assert.True((await session.EndCall(m[0], null)).Ok);
        await _kit.AssertFreeAsync(m);
    }

    [Fact]
    public async Task One_participant_left_alone_for_the_idle_timeout_ends_the_call()
    {
        var (call, m) = await RingGroupAsync(3);
        var session = _kit.Session(call.SessionId);
        Assert.True((await session.AcceptCall(m[1], null)).Ok);
        Assert.True((await session.RejectCall(m[2], CallStatus.Rejected, null)).Ok);
        Assert.True((await session.LeaveCall(m[0], null)).Ok);
        var probe = await _kit.WatchAsync(m[1]);

        await fixture.AdvanceAsync(TimeSpan.FromSeconds(FakeClockFixture.IdleSessionEndSeconds - 1));
        Assert.Equal(CallStatus.Ongoing, (await session.Peek())!.Status);

        // Someone joining again stops the idle count; alone again, it starts over.
        Assert.True((await session.JoinCall(m[0], null)).Ok);
        Assert.True((await session.LeaveCall(m[0], null)).Ok);
        await fixture.AdvanceAsync(TimeSpan.FromSeconds(FakeClockFixture.IdleSessionEndSeconds - 1));
        Assert.Equal(CallStatus.Ongoing, (await session.Peek())!.Status);
        await fixture.AdvanceAsync(TimeSpan.FromSeconds(1));

        await StatusAsync(call, CallStatus.Ended);
        await probe.WaitForAsync(m[1], 3);
        Assert.Equal([CallEventType.UserJoined, CallEventType.UserLeft, CallEventType.CallEndedMessageReceived], probe.TypesFor(m[1]));
        await _kit.AssertFreeAsync(m);
    }

    [Fact]
    public async Task Members_whose_devices_are_gone_for_the_grace_leave_or_stop_ringing_and_the_others_are_told()
    {
        var (call, m) = await RingGroupAsync(4);
        var probe = await _kit.WatchAsync(m);
        var session = _kit.Session(call.SessionId);
        Assert.True((await session.AcceptCall(m[1], null)).Ok);
        Assert.True((await session.AcceptCall(m[2], null)).Ok);

        // m[2] (in the call) and m[3] (still ringing) lose their only device and do not come back.
        await probe.DisconnectAsync(_kit.Client, m[2]);
        await probe.DisconnectAsync(_kit.Client, m[3]);
        await fixture.AdvanceAsync(TimeSpan.FromSeconds((FakeClockFixture.DisconnectGraceSeconds * 2) + 1));

        await CallTestKit.EventuallyAsync(
            async () => (await session.Peek()) is { } now && !now.IsPresent(m[2]) && now.MemberStatusOf(m[3]) == MemberStatus.Unanswered,
            "m2 left and m3 stopped ringing");
        var after = (await session.Peek())!;
        Assert.Equal(CallStatus.Ongoing, after.Status);
        Assert.True(after.IsPresent(m[0]) && after.IsPresent(m[1]));
        await _kit.EventuallyFreeAsync(m[2], m[3]);
        await CallTestKit.EventuallyAsync(
            () => Task.FromResult(probe.For(m[1]).Any(e => e.Type == CallEventType.UserLeft && e.User?.Uid == m[2])),
            "m1 told that m2 left");

        // Nobody is stuck: the two can call each other at once.
        var again = await _kit.CallAsync(m[3], m[2]);
        Assert.True(again.Ok, again.Error?.Message);
        await _kit.EndAsync(again.Call!.SessionId, m[3]);
    }

    private async Task<(CallInfo Call, string[] Members)> RingGroupAsync(int size)
    {
        var m = await _kit.CreateUsersAsync(size, "gt");
        var guid = "grp-" + Guid.NewGuid().ToString("N")[..10];
        Assert.Equal(GroupOutcome.Done, (await _kit.Client.GetGrain<IGroupGrain>(guid).Create("Team", [.. m])).Outcome);
        var started = await _kit.Session(Identifiers.NewSessionId()).InitiateCall(new InitiateRequest
        {
            CallerUid = m[0],
            ReceiverId = guid,
            ReceiverType = ReceiverType.Group,
            CallType = CallType.Audio,
            TimeoutSeconds = RingSeconds,
        });
        Assert.True(started.Ok, started.Error?.Message);
        return (started.Call!, m);
    }

    private Task StatusAsync(CallInfo call, CallStatus status) =>
        CallTestKit.EventuallyAsync(async () => (await _kit.Session(call.SessionId).Peek())?.Status == status, $"{call.SessionId} {status}");
}
