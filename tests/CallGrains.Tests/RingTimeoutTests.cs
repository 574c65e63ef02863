using CallGrains.Abstractions;

namespace CallGrains.Tests;

[Collection(ClusterGroup.Name)]
public sealed class RingTimeoutTests(ClusterFixture fixture)
{
    private readonly CallTestKit _kit = new(fixture.Cluster);

    [Fact]
    public async Task An_unanswered_call_times_out_after_the_configured_default()
    {
        var (a, b) = await _kit.CreatePairAsync();
        var call = await _kit.RingAsync(a, b, timeoutSeconds: null);
        Assert.Equal(ClusterFixture.DefaultRingTimeoutSeconds, call.TimeoutSeconds);

        await CallTestKit.EventuallyAsync(async () => (await _kit.Session(call.SessionId).Peek())!.Status == CallStatus.Unanswered, "unanswered");

        var settled = (await _kit.Session(call.SessionId).Peek())!;
        var rang = (settled.EndedAt!.Value - settled.InitiatedAt).TotalSeconds;
        Assert.InRange(rang, ClusterFixture.DefaultRingTimeoutSeconds - 0.05, ClusterFixture.DefaultRingTimeoutSeconds + 1.5);
        Assert.Null((await _kit.SnapshotAsync(a)).ActiveCall);
        Assert.Empty((await _kit.SnapshotAsync(b)).Ringing);
    }

    [Fact]
    public async Task A_per_call_timeout_overrides_the_default()
    {
        var (a, b) = await _kit.CreatePairAsync();
        var call = await _kit.RingAsync(a, b, timeoutSeconds: 5);

        await Task.Delay(TimeSpan.FromSeconds(ClusterFixture.DefaultRingTimeoutSeconds + 1));
        Assert.Equal(CallStatus.Initiated, (await _kit.Session(call.SessionId).Peek())!.Status);

        await CallTestKit.EventuallyAsync(async () => (await _kit.Session(call.SessionId).Peek())!.Status == CallStatus.Unanswered, "unanswered", 6_000);
        var settled = (await _kit.Session(call.SessionId).Peek())!;
        Assert.InRange((settled.EndedAt!.Value - settled.InitiatedAt).TotalSeconds, 4.95, 6.5);
    }

    [Fact]
    public async Task An_accepted_call_never_times_out()
    {
        var (a, b) = await _kit.CreatePairAsync();
        var call = await _kit.RingAsync(a, b, timeoutSeconds: null);
        await _kit.Session(call.SessionId).AcceptCall(b, null);

        await Task.Delay(TimeSpan.FromSeconds(ClusterFixture.DefaultRingTimeoutSeconds + 1.5));

        Assert.Equal(CallStatus.Ongoing, (await _kit.Session(call.SessionId).Peek())!.Status);
        Assert.Equal(CallStatus.Ongoing, (await _kit.SnapshotAsync(a)).ActiveCall!.Status);
    }

    [Fact]
    public async Task A_cancelled_call_stays_cancelled_past_its_deadline()
    {
        var (a, b) = await _kit.CreatePairAsync();
        var probe = await _kit.WatchAsync(a, b);
        var call = await _kit.RingAsync(a, b, timeoutSeconds: null);
        await _kit.Session(call.SessionId).RejectCall(a, CallStatus.Cancelled, null);

        await Task.Delay(TimeSpan.FromSeconds(ClusterFixture.DefaultRingTimeoutSeconds + 1.5));

        Assert.Equal(CallStatus.Cancelled, (await _kit.Session(call.SessionId).Peek())!.Status);
        Assert.Equal(2, probe.For(b).Count);
        Assert.Empty(probe.For(a));
    }

    [Fact]
    public async Task A_ringing_callee_is_free_to_take_another_call_after_the_timeout()
    {
        var (a, b) = await _kit.CreatePairAsync();
        var call = await _kit.RingAsync(a, b, timeoutSeconds: null);
        await CallTestKit.EventuallyAsync(async () => (await _kit.Session(call.SessionId).Peek())!.Status == CallStatus.Unanswered, "unanswered");

        Assert.True((await _kit.CallAsync(b, a)).Ok);
    }
}
