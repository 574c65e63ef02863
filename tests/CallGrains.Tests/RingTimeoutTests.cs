using CallGrains.Abstractions;

namespace CallGrains.Tests;

/// <summary>
/// Ring deadlines on a fake clock: a call rings until exactly its deadline and not a tick less, whatever the machine's
/// speed. What must not happen is checked after a control call, rung at the same moment and left ringing, has timed
/// out: by then the timer of the call under test has had its turn too.
/// </summary>
[Collection(FakeClockGroup.Name)]
public sealed class RingTimeoutTests(FakeClockFixture fixture)
{
    private static readonly TimeSpan Tick = TimeSpan.FromMilliseconds(1);
    private static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(FakeClockFixture.DefaultRingTimeoutSeconds);
    private readonly CallTestKit _kit = new(fixture.Cluster);

    [Fact]
    public async Task An_unanswered_call_times_out_at_the_configured_default_and_not_before()
    {
        var (a, b) = await _kit.CreatePairAsync();
        var call = await _kit.RingAsync(a, b, timeoutSeconds: null);
        Assert.Equal(FakeClockFixture.DefaultRingTimeoutSeconds, call.TimeoutSeconds);

        await fixture.AdvanceAsync(DefaultTimeout - Tick);
        Assert.Equal(CallStatus.Initiated, await StatusAsync(call));

        await fixture.AdvanceAsync(Tick);
        await UnansweredAsync(call);
        var settled = (await _kit.Session(call.SessionId).Peek())!;
        Assert.Equal(DefaultTimeout, settled.EndedAt!.Value - settled.InitiatedAt);
        await _kit.EventuallyFreeAsync(a, b);
    }

    [Fact]
    public async Task A_per_call_timeout_overrides_the_default()
    {
        var (a, b) = await _kit.CreatePairAsync();
        var call = await _kit.RingAsync(a, b, timeoutSeconds: 5);

        await fixture.AdvanceAsync(DefaultTimeout + TimeSpan.FromSeconds(1));
        Assert.Equal(CallStatus.Initiated, await StatusAsync(call));
        await fixture.AdvanceAsync(TimeSpan.FromSeconds(2) - Tick);
        Assert.Equal(CallStatus.Initiated, await StatusAsync(call));

        await fixture.AdvanceAsync(Tick);
        await UnansweredAsync(call);
        var settled = (await _kit.Session(call.SessionId).Peek())!;
        Assert.Equal(TimeSpan.FromSeconds(5), settled.EndedAt!.Value - settled.InitiatedAt);
    }

    [Fact]
    public async Task An_accepted_call_never_times_out()
    {
        var (a, b) = await _kit.CreatePairAsync();
        var call = await _kit.RingAsync(a, b, timeoutSeconds: null);
        var control = await RingControlAsync();
        await _kit.Session(call.SessionId).AcceptCall(b, null);

        await fixture.AdvanceAsync(DefaultTimeout + TimeSpan.FromSeconds(1));
        await UnansweredAsync(control);

        Assert.Equal(CallStatus.Ongoing, await StatusAsync(call));
        Assert.Equal(CallStatus.Ongoing, (await _kit.SnapshotAsync(a)).ActiveCall!.Status);
    }

    [Fact]
    public async Task A_cancelled_call_stays_cancelled_past_its_deadline()
    {
        var (a, b) = await _kit.CreatePairAsync();
        var probe = await _kit.WatchAsync(a, b);
        var call = await _kit.RingAsync(a, b, timeoutSeconds: null);
        var control = await RingControlAsync();
        await _kit.Session(call.SessionId).RejectCall(a, CallStatus.Cancelled, null);
        await probe.WaitForAsync(b, 2);

        await fixture.AdvanceAsync(DefaultTimeout + TimeSpan.FromSeconds(1));
        await UnansweredAsync(control);

        Assert.Equal(CallStatus.Cancelled, await StatusAsync(call));
        await EventProbe.SettleAsync();
        Assert.Equal(2, probe.For(b).Count);
        Assert.Empty(probe.For(a));
    }

    [Fact]
    public async Task A_ringing_callee_is_free_to_take_another_call_after_the_timeout()
    {
        var (a, b) = await _kit.CreatePairAsync();
        var call = await _kit.RingAsync(a, b, timeoutSeconds: null);

        await fixture.AdvanceAsync(DefaultTimeout);
        await UnansweredAsync(call);

        Assert.True((await _kit.CallAsync(b, a)).Ok);
    }

    /// <summary>A call between two fresh users, ringing from now for the default timeout.</summary>
    private async Task<CallInfo> RingControlAsync()
    {
        var (c, d) = await _kit.CreatePairAsync();
        return await _kit.RingAsync(c, d, timeoutSeconds: null);
    }

    private async Task<CallStatus> StatusAsync(CallInfo call) => (await _kit.Session(call.SessionId).Peek())!.Status;

    private Task UnansweredAsync(CallInfo call) =>
        CallTestKit.EventuallyAsync(async () => await StatusAsync(call) == CallStatus.Unanswered, $"{call.SessionId} unanswered");
}
