using CallGrains.Abstractions;

namespace CallGrains.Tests;

/// <summary>
/// The disconnect grace on a fake clock, for what must not happen within it (PresenceTests has what does happen after
/// it). A control user who leaves and stays away shows when the grace timers have had their turn.
/// </summary>
[Collection(FakeClockGroup.Name)]
public sealed class DisconnectGraceTests(FakeClockFixture fixture)
{
    private static readonly TimeSpan PastGrace = TimeSpan.FromSeconds((FakeClockFixture.DisconnectGraceSeconds * 2) + 1);
    private readonly CallTestKit _kit = new(fixture.Cluster);

    [Fact]
    public async Task Coming_back_within_the_grace_period_keeps_the_call()
    {
        var (a, b) = await _kit.CreatePairAsync();
        var (c, d) = await _kit.CreatePairAsync();
        var probe = await _kit.WatchAsync(a, b, c, d);
        var call = await _kit.ConnectAsync(a, b);
        var control = await _kit.ConnectAsync(c, d);

        await probe.DisconnectAsync(_kit.Client, b);
        await _kit.User(b).RegisterDevice("dev", probe.GatewayId, 0);
        await probe.DisconnectAsync(_kit.Client, d);
        await fixture.AdvanceAsync(PastGrace);
        await CallTestKit.EventuallyAsync(async () => (await _kit.Session(control.SessionId).Peek())!.Status == CallStatus.Ended, "control ended");

        Assert.Equal(CallStatus.Ongoing, (await _kit.Session(call.SessionId).Peek())!.Status);
    }

    [Fact]
    public async Task A_user_who_never_connected_rings_until_the_ring_timeout()
    {
        var (a, b) = await _kit.CreatePairAsync();
        var (c, d) = await _kit.CreatePairAsync();
        var probe = await _kit.WatchAsync(c, d);
        var call = await _kit.RingAsync(a, b, timeoutSeconds: 5);
        var control = await _kit.RingAsync(c, d, timeoutSeconds: 5);

        await probe.DisconnectAsync(_kit.Client, d);
        await fixture.AdvanceAsync(PastGrace);
        await CallTestKit.EventuallyAsync(async () => (await _kit.Session(control.SessionId).Peek())!.Status == CallStatus.Unanswered, "control unanswered by the grace");

        Assert.Equal(CallStatus.Initiated, (await _kit.Session(call.SessionId).Peek())!.Status);
        await fixture.AdvanceAsync(TimeSpan.FromSeconds(5) - PastGrace);
        await CallTestKit.EventuallyAsync(async () => (await _kit.Session(call.SessionId).Peek())!.Status == CallStatus.Unanswered, "unanswered at the ring timeout");
    }
}
