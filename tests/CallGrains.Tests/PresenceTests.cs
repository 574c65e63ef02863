using CallGrains.Abstractions;

namespace CallGrains.Tests;

/// <summary>
/// Tokens, signals and the disconnect grace, at the grain level (the gateway tests cover the sockets). What must not
/// happen within the grace is checked on a fake clock (DisconnectGraceTests).
/// </summary>
[Collection(ClusterGroup.Name)]
public sealed class PresenceTests(ClusterFixture fixture)
{
    private readonly CallTestKit _kit = new(fixture.Cluster);

    [Fact]
    public async Task Revoking_tokens_refuses_old_tokens_and_orders_the_sockets_closed()
    {
        var (a, _) = await _kit.CreatePairAsync();
        var probe = await _kit.WatchAsync(a);
        var generation = (await _kit.User(a).GetTokenGeneration())!.Value;

        Assert.True(await _kit.User(a).RevokeTokens());

        await CallTestKit.EventuallyAsync(() => Task.FromResult(probe.ClosesFor(a).Count == 1), "close order");
        Assert.Equal((int)CloseCodes.Revoked, probe.ClosesFor(a)[0]);
        var refused = await _kit.User(a).RegisterDevice("phone", probe.GatewayId, generation);
        Assert.Equal(CallErrorCode.UserNotLoggedIn, refused.Error!.Code);
        Assert.Null((await _kit.User(a).RegisterDevice("phone", probe.GatewayId, generation + 1)).Error);
        Assert.Null(await _kit.User($"nobody-{Guid.NewGuid():N}").GetTokenGeneration());
    }

    [Fact]
    public async Task A_signal_reaches_only_the_device_in_the_call()
    {
        var (a, b) = await _kit.CreatePairAsync();
        var probe = await _kit.WatchAsync((a, "dev"), (b, "phone"), (b, "tablet"));
        var call = await _kit.RingAsync(a, b);
        await _kit.Session(call.SessionId).AcceptCall(b, "phone");

        var sent = await _kit.Session(call.SessionId).Signal(a, b, "{\"sdp\":\"offer\"}");

        Assert.True(sent.Ok);
        await probe.WaitForAsync(b, 2, "phone");
        var signal = probe.For(b, "phone")[1];
        Assert.Equal(CallEventType.Signal, signal.Type);
        Assert.Equal(a, signal.From);
        Assert.Equal("{\"sdp\":\"offer\"}", signal.Data);
        await EventProbe.SettleAsync();
        Assert.DoesNotContain(probe.For(b, "tablet"), e => e.Type == CallEventType.Signal);
    }

    [Fact]
    public async Task Signals_need_an_ongoing_call_between_participants()
    {
        var (a, b) = await _kit.CreatePairAsync();
        var c = (await _kit.CreateUsersAsync(1, "c"))[0];
        var call = await _kit.RingAsync(a, b);
        var session = _kit.Session(call.SessionId);

        Assert.Equal(CallErrorCode.BadRequest, (await session.Signal(a, b, "{}")).Error!.Code);
        await session.AcceptCall(b, null);
        Assert.Equal(CallErrorCode.PermissionDenied, (await session.Signal(c, b, "{}")).Error!.Code);
        Assert.Equal(CallErrorCode.PermissionDenied, (await session.Signal(a, c, "{}")).Error!.Code);
        Assert.Equal(CallErrorCode.PermissionDenied, (await session.Signal(a, a, "{}")).Error!.Code);
        Assert.Equal(CallErrorCode.BadRequest, (await session.Signal(a, b, new string('x', Limits.MaxSignalBytes + 1))).Error!.Code);
        await session.EndCall(a, null);
        Assert.Equal(CallErrorCode.CallEnded, (await session.Signal(a, b, "{}")).Error!.Code);
    }

    [Fact]
    public async Task Media_tokens_are_for_parties_of_a_live_call()
    {
        var (a, b) = await _kit.CreatePairAsync();
        var c = (await _kit.CreateUsersAsync(1, "c"))[0];
        var call = await _kit.RingAsync(a, b);
        var session = _kit.Session(call.SessionId);

        Assert.True((await session.AuthorizeMedia(a)).Ok);
        Assert.True((await session.AuthorizeMedia(b)).Ok);
        Assert.Equal(CallErrorCode.PermissionDenied, (await session.AuthorizeMedia(c)).Error!.Code);
        await session.RejectCall(a, CallStatus.Cancelled, null);
        Assert.Equal(CallErrorCode.CallCancelled, (await session.AuthorizeMedia(a)).Error!.Code);
    }

    [Fact]
    public async Task A_caller_gone_for_the_grace_period_cancels_the_ringing_call()
    {
        var (a, b) = await _kit.CreatePairAsync();
        var probe = await _kit.WatchAsync(a, b);
        var call = await _kit.RingAsync(a, b);

        await probe.DisconnectAsync(_kit.Client, a);

        await CallTestKit.EventuallyAsync(async () => (await _kit.Session(call.SessionId).Peek())!.Status == CallStatus.Cancelled, "cancelled");
        await _kit.EventuallyFreeAsync(a, b);
        await probe.WaitForAsync(b, 2);
        Assert.Equal(CancelReason.Cancelled, probe.For(b)[1].Reason);
    }

    [Fact]
    public async Task A_callee_gone_for_the_grace_period_leaves_the_call_unanswered()
    {
        var (a, b) = await _kit.CreatePairAsync();
        var probe = await _kit.WatchAsync(a, b);
        var call = await _kit.RingAsync(a, b);

        await probe.DisconnectAsync(_kit.Client, b);

        await CallTestKit.EventuallyAsync(async () => (await _kit.Session(call.SessionId).Peek())!.Status == CallStatus.Unanswered, "unanswered");
        await _kit.EventuallyFreeAsync(a, b);
    }

    [Fact]
    public async Task A_party_gone_for_the_grace_period_ends_the_ongoing_call()
    {
        var (a, b) = await _kit.CreatePairAsync();
        var probe = await _kit.WatchAsync(a, b);
        var call = await _kit.ConnectAsync(a, b);

        await probe.DisconnectAsync(_kit.Client, b);

        await CallTestKit.EventuallyAsync(async () => (await _kit.Session(call.SessionId).Peek())!.Status == CallStatus.Ended, "ended");
        await _kit.EventuallyFreeAsync(a, b);
        await probe.WaitForAsync(a, 2);
        Assert.Equal(CallEventType.CallEndedMessageReceived, probe.For(a)[1].Type);
    }
}
