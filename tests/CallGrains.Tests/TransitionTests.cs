using CallGrains.Abstractions;

namespace CallGrains.Tests;

[Collection(ClusterGroup.Name)]
public sealed class TransitionTests(ClusterFixture fixture)
{
    private readonly CallTestKit _kit = new(fixture.Cluster);

    [Fact]
    public async Task Initiate_rings_the_callee_and_makes_both_busy()
    {
        var (a, b) = await _kit.CreatePairAsync();
        var probe = await _kit.WatchAsync(a, b);

        var result = await _kit.CallAsync(a, b);

        Assert.True(result.Ok);
        Assert.Equal(CallStatus.Initiated, result.Call!.Status);
        Assert.Equal($"User {a}", result.Call.Initiator.Name);
        Assert.Equal(b, result.Call.ReceiverId);
        await probe.WaitForAsync(b, 1);
        var incoming = Assert.Single(probe.For(b));
        Assert.Equal(CallEventType.IncomingCallReceived, incoming.Type);
        Assert.Equal(result.Call.SessionId, incoming.Call!.SessionId);
        Assert.Equal(result.Call.SessionId, (await _kit.SnapshotAsync(a)).ActiveCall!.SessionId);
        Assert.Equal(result.Call.SessionId, Assert.Single((await _kit.SnapshotAsync(b)).Ringing).SessionId);
    }

    [Fact]
    public async Task Accept_makes_the_call_ongoing_for_both()
    {
        var (a, b) = await _kit.CreatePairAsync();
        var call = await _kit.RingAsync(a, b);

        var accepted = await _kit.Session(call.SessionId).AcceptCall(b, null);

        Assert.True(accepted.Ok);
        Assert.Equal(CallStatus.Ongoing, accepted.Call!.Status);
        Assert.NotNull(accepted.Call.JoinedAt);
        Assert.Equal([a, b], accepted.Call.Participants.Select(p => p.Uid));
        Assert.Equal(CallStatus.Ongoing, (await _kit.SnapshotAsync(a)).ActiveCall!.Status);
        Assert.Equal(CallStatus.Ongoing, (await _kit.SnapshotAsync(b)).ActiveCall!.Status);
        Assert.Empty((await _kit.SnapshotAsync(b)).Ringing);
    }

    [Theory]
    [InlineData(CallStatus.Rejected)]
    [InlineData(CallStatus.Busy)]
    public async Task Callee_rejecting_frees_both(CallStatus status)
    {
        var (a, b) = await _kit.CreatePairAsync();
        var call = await _kit.RingAsync(a, b);

        var rejected = await _kit.Session(call.SessionId).RejectCall(b, status, null);

        Assert.True(rejected.Ok);
        Assert.Equal(status, rejected.Call!.Status);
        Assert.NotNull(rejected.Call.EndedAt);
        await _kit.AssertFreeAsync(a, b);
    }

    [Fact]
    public async Task Caller_cancelling_frees_both()
    {
        var (a, b) = await _kit.CreatePairAsync();
        var call = await _kit.RingAsync(a, b);

        var cancelled = await _kit.Session(call.SessionId).RejectCall(a, CallStatus.Cancelled, null);

        Assert.True(cancelled.Ok);
        Assert.Equal(CallStatus.Cancelled, cancelled.Call!.Status);
        await _kit.AssertFreeAsync(a, b);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Either_party_ends_an_ongoing_call(bool callerEnds)
    {
        var (a, b) = await _kit.CreatePairAsync();
        var call = await _kit.ConnectAsync(a, b);

        var ended = await _kit.Session(call.SessionId).EndCall(callerEnds ? a : b, null);

        Assert.True(ended.Ok);
        Assert.Equal(CallStatus.Ended, ended.Call!.Status);
        Assert.NotNull(ended.Call.Duration);
        Assert.All(ended.Call.Participants, p => Assert.NotNull(p.LeftAt));
        await _kit.AssertFreeAsync(a, b);
    }

    [Fact]
    public async Task Caller_hanging_up_a_ringing_call_cancels_it()
    {
        var (a, b) = await _kit.CreatePairAsync();
        var call = await _kit.RingAsync(a, b);

        var ended = await _kit.Session(call.SessionId).EndCall(a, null);

        Assert.Equal(CallStatus.Cancelled, ended.Call!.Status);
        await _kit.AssertFreeAsync(a, b);
    }

    [Fact]
    public async Task Calling_a_busy_user_records_a_busy_call()
    {
        var (a, b) = await _kit.CreatePairAsync();
        var c = (await _kit.CreateUsersAsync(1, "c"))[0];
        var first = await _kit.ConnectAsync(a, b);
        var probe = await _kit.WatchAsync(b);

        var result = await _kit.CallAsync(c, b);

        Assert.False(result.Ok);
        Assert.Equal(CallErrorCode.CallBusy, result.Error!.Code);
        Assert.Equal(CallStatus.Busy, result.Call!.Status);
        Assert.Equal(CallStatus.Busy, (await _kit.Session(result.Call.SessionId).Peek())!.Status);
        Assert.Null((await _kit.SnapshotAsync(c)).ActiveCall);
        Assert.Equal(first.SessionId, (await _kit.SnapshotAsync(b)).ActiveCall!.SessionId);
        await EventProbe.SettleAsync();
        Assert.Empty(probe.For(b));
    }

    [Fact]
    public async Task A_user_can_call_again_after_a_call_ends()
    {
        var (a, b) = await _kit.CreatePairAsync();
        var first = await _kit.ConnectAsync(a, b);
        await _kit.Session(first.SessionId).EndCall(a, null);

        var again = await _kit.CallAsync(b, a);

        Assert.True(again.Ok, again.Error?.Message);
    }
}
