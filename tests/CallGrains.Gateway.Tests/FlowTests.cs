using System.Text.Json;
using CallGrains.Gateway.Auth;

namespace CallGrains.Gateway.Tests;

/// <summary>
/// Every flow of PROTOCOL sections 4-6 from the sockets' side, co-hosted: each runs with both parties on one gateway
/// and with the caller and the callee on different gateways (two silos).
/// </summary>
[Collection(TwoNodeGroup.Name)]
public sealed class FlowTests(TwoNodeFixture cluster) : FlowTestsBase(cluster);

/// <summary>
/// The same flows on the split shape (two grains-only silos, two edges): both parties on one edge, and on two edges,
/// every event crossing edge, silo and edge.
/// </summary>
[Collection(EdgeGroup.Name)]
public sealed class EdgeFlowTests(EdgeFixture cluster) : FlowTestsBase(cluster);

/// <summary>Every flow of PROTOCOL sections 4-6, on the gateways of <see cref="IGatewayPair"/>.</summary>
public abstract class FlowTestsBase(IGatewayPair cluster)
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Ring_accept_end(bool crossNode)
    {
        await using var p = await PairAsync(crossNode);

        var initiated = await p.A.CallAsync(p.B.Uid);
        Assert.True(initiated.IsOk());
        Assert.Equal("initiated", initiated.Status());
        Assert.Equal("video", initiated.Call().Str("callType"));
        var incoming = await p.B.EventAsync(0, "incomingCallReceived");
        Assert.Equal(initiated.SessionId(), incoming.SessionId());
        Assert.Equal(1, incoming.Seq());
        Assert.Equal(p.A.Uid, incoming.Call().GetProperty("initiator").Str("uid"));

        var accepted = await p.B.RequestAsync("acceptCall", new { sessionId = initiated.SessionId() });
        Assert.True(accepted.IsOk());
        Assert.Equal("ongoing", accepted.Status());
        Assert.Equal(2, accepted.Seq());
        var toCaller = await p.A.EventAsync(0, "outgoingCallAccepted");
        Assert.Equal(1, toCaller.Seq());
        Assert.Equal(2, toCaller.Call().GetProperty("participants").GetArrayLength());

        var ended = await p.A.RequestAsync("endCall", new { sessionId = initiated.SessionId() });
        Assert.True(ended.IsOk());
        Assert.Equal("ended", ended.Status());
        Assert.Equal(JsonValueKind.Number, ended.Call().GetProperty("duration").ValueKind);
        var endedEvent = await p.B.EventAsync(1, "callEndedMessageReceived");
        Assert.Equal(3, endedEvent.Seq());
        await p.A.NoMoreEventsAsync(1);
        await p.B.NoMoreEventsAsync(2);
    }

    [Theory]
    [InlineData(false, "rejected")]
    [InlineData(true, "rejected")]
    [InlineData(false, "busy")]
    [InlineData(true, "busy")]
    public async Task Callee_rejects(bool crossNode, string status)
    {
        await using var p = await PairAsync(crossNode);
        var call = await p.A.CallAsync(p.B.Uid);
        await p.B.EventAsync(0, "incomingCallReceived");

        var rejected = await p.B.RequestAsync("rejectCall", new { sessionId = call.SessionId(), status });

        Assert.True(rejected.IsOk());
        Assert.Equal(status, rejected.Status());
        var toCaller = await p.A.EventAsync(0, "outgoingCallRejected");
        Assert.Equal(status, toCaller.Status());
        await p.B.NoMoreEventsAsync(1);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Calling_a_busy_user_is_ERR_CALL_BUSY(bool crossNode)
    {
        await using var p = await PairAsync(crossNode);
        var (cUid, cToken) = (await cluster.Admin.UsersAsync(1, "c"))[0];
        await using var c = await WsClient.ConnectAsync(cluster.A, cUid, cToken);
        var call = await p.A.CallAsync(p.B.Uid);
        await p.B.RequestAsync("acceptCall", new { sessionId = call.SessionId() });

        var busy = await c.CallAsync(p.B.Uid);

        Assert.False(busy.IsOk());
        Assert.Equal("ERR_CALL_BUSY", busy.ErrorCode());
        Assert.Equal("busy", busy.Status());
        await p.B.NoMoreEventsAsync(1);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Caller_cancels(bool crossNode)
    {
        await using var p = await PairAsync(crossNode);
        var call = await p.A.CallAsync(p.B.Uid);
        await p.B.EventAsync(0, "incomingCallReceived");

        var cancelled = await p.A.RequestAsync("rejectCall", new { sessionId = call.SessionId(), status = "cancelled" });

        Assert.Equal("cancelled", cancelled.Status());
        var canceled = await p.B.EventAsync(1, "incomingCallCanceled");
        Assert.Equal("cancelled", canceled.Str("reason"));
        await p.A.NoMoreEventsAsync(0);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Nobody_answers(bool crossNode)
    {
        await using var p = await PairAsync(crossNode);
        var call = await p.A.CallAsync(p.B.Uid, timeoutSeconds: 5);
        Assert.Equal(5, call.Call().GetProperty("timeoutSeconds").GetInt32());

        var rejected = await p.A.EventAsync(0, "outgoingCallRejected");
        var canceled = await p.B.EventAsync(1, "incomingCallCanceled");

        Assert.Equal("unanswered", rejected.Status());
        Assert.Equal("unanswered", canceled.Str("reason"));
        var accept = await p.B.RequestAsync("acceptCall", new { sessionId = call.SessionId() });
        Assert.Equal("ERR_CALL_UNANSWERED", accept.ErrorCode());
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Calling_each_other_connects_one_call(bool crossNode)
    {
        await using var p = await PairAsync(crossNode);
        var first = await p.A.CallAsync(p.B.Uid);
        await p.B.EventAsync(0, "incomingCallReceived");

        var second = await p.B.CallAsync(p.A.Uid);

        Assert.True(second.IsOk());
        Assert.Equal(first.SessionId(), second.SessionId());
        Assert.Equal("ongoing", second.Status());
        var accepted = await p.A.EventAsync(0, "outgoingCallAccepted");
        Assert.Equal(first.SessionId(), accepted.SessionId());
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task One_of_three_devices_answers_and_the_others_stop_ringing(bool crossNode)
    {
        var users = await cluster.Admin.UsersAsync(2);
        await using var a = await WsClient.ConnectAsync(cluster.A, users[0].Uid, users[0].Token);
        var calleeNode = cluster.Node(crossNode);
        await using var phone = await WsClient.ConnectAsync(calleeNode, users[1].Uid, users[1].Token, "phone");
        await using var tablet = await WsClient.ConnectAsync(cluster.A, users[1].Uid, users[1].Token, "tablet");
        await using var laptop = await WsClient.ConnectAsync(cluster.B, users[1].Uid, users[1].Token, "laptop");
        var call = await a.CallAsync(users[1].Uid);
        foreach (var device in new[] { phone, tablet, laptop })
        {
            await device.EventAsync(0, "incomingCallReceived");
        }

        var accepted = await phone.RequestAsync("acceptCall", new { sessionId = call.SessionId() });

        Assert.True(accepted.IsOk());
        foreach (var other in new[] { tablet, laptop })
        {
            var canceled = await other.EventAsync(1, "incomingCallCanceled");
            Assert.Equal("answeredElsewhere", canceled.Str("reason"));
            Assert.Equal(accepted.Seq(), canceled.Seq());
        }

        await phone.NoMoreEventsAsync(1);
        await a.EventAsync(0, "outgoingCallAccepted");
        var second = await tablet.RequestAsync("acceptCall", new { sessionId = call.SessionId() });
        Assert.Equal("ERR_CALL_ALREADY_JOINED", second.ErrorCode());
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Reconnecting_while_ringing_shows_the_call_in_welcome(bool crossNode)
    {
        var users = await cluster.Admin.UsersAsync(2);
        await using var a = await WsClient.ConnectAsync(cluster.A, users[0].Uid, users[0].Token);
        var b = await WsClient.ConnectAsync(cluster.Node(crossNode), users[1].Uid, users[1].Token, "phone");
        var call = await a.CallAsync(users[1].Uid);
        await b.EventAsync(0, "incomingCallReceived");
        await b.DisposeAsync();

        await using var again = await WsClient.ConnectAsync(cluster.Node(!crossNode), users[1].Uid, users[1].Token, "phone");

        var ringing = again.Welcome.GetProperty("ringing");
        Assert.Equal(call.SessionId(), Assert.Single(ringing.EnumerateArray()).Str("sessionId"));
        Assert.Equal(1, again.Welcome.Seq());
        Assert.Equal(JsonValueKind.Null, again.Welcome.GetProperty("activeCall").ValueKind);
        Assert.Equal(call.SessionId(), (await a.RequestAsync("sync")).GetProperty("activeCall").Str("sessionId"));
        Assert.True((await again.RequestAsync("acceptCall", new { sessionId = call.SessionId() })).IsOk());
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Seq_has_no_gaps_across_events_and_responses(bool crossNode)
    {
        await using var p = await PairAsync(crossNode);
        for (var i = 0; i < 3; i++)
        {
            var call = await p.A.CallAsync(p.B.Uid);
            await p.B.EventAsync(2 * i, "incomingCallReceived");
            await p.A.RequestAsync("rejectCall", new { sessionId = call.SessionId(), status = "cancelled" });
            await p.B.EventAsync((2 * i) + 1, "incomingCallCanceled");
        }

        Assert.Equal([1L, 2, 3, 4, 5, 6], p.B.Events.Select(e => e.Seq()));
        var sync = await p.B.RequestAsync("sync");
        Assert.Equal(6, sync.Seq());
        Assert.Empty(sync.GetProperty("ringing").EnumerateArray());
        var ping = await p.B.RequestAsync("ping");
        Assert.True(ping.IsOk());
        Assert.Equal(6, ping.Seq());
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_vanished_user_is_taken_out_of_the_call_after_the_grace(bool crossNode)
    {
        var users = await cluster.Admin.UsersAsync(2);
        var a = await WsClient.ConnectAsync(cluster.A, users[0].Uid, users[0].Token);
        await using var b = await WsClient.ConnectAsync(cluster.Node(crossNode), users[1].Uid, users[1].Token);
        var call = await a.CallAsync(users[1].Uid);
        await b.RequestAsync("acceptCall", new { sessionId = call.SessionId() });

        await a.DisposeAsync();

        var ended = await b.EventAsync(1, "callEndedMessageReceived");
        Assert.Equal(call.SessionId(), ended.SessionId());
        Assert.Equal(JsonValueKind.Null, (await b.RequestAsync("sync")).GetProperty("activeCall").ValueKind);
        await using var c = await WsClient.ConnectAsync(cluster.A, users[0].Uid, users[0].Token);
        Assert.True((await c.CallAsync(users[1].Uid)).IsOk());
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Signals_reach_the_other_participant(bool crossNode)
    {
        await using var p = await PairAsync(crossNode);
        var call = await p.A.CallAsync(p.B.Uid);
        await p.B.RequestAsync("acceptCall", new { sessionId = call.SessionId() });

        var sent = await p.A.RequestAsync("signal", new { sessionId = call.SessionId(), to = p.B.Uid, data = new { type = "offer", sdp = "v=0" } });

        Assert.True(sent.IsOk());
        var signal = await p.B.EventAsync(1, "signal");
        Assert.Equal(p.A.Uid, signal.Str("from"));
        Assert.Equal("offer", signal.GetProperty("data").Str("type"));

        // Signals are not numbered: B's seq stays where accepting left it (incoming 1, answeredElsewhere 2), so B's
        // other devices see no gap, and the next numbered event follows on.
        Assert.Equal(2, signal.Seq());
        await p.A.RequestAsync("endCall", new { sessionId = call.SessionId() });
        Assert.Equal(3, (await p.B.EventAsync(2, "callEndedMessageReceived")).Seq());
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Call_tokens_are_signed_for_the_participants(bool crossNode)
    {
        await using var p = await PairAsync(crossNode);
        var call = await p.A.CallAsync(p.B.Uid);

        var token = await p.B.RequestAsync("generateToken", new { sessionId = call.SessionId() });

        Assert.True(token.IsOk());
        var payload = cluster.A.Services.GetService(typeof(Tokens)) is Tokens tokens ? tokens.VerifyCallToken(token.Str("token")) : null;
        Assert.NotNull(payload);
        using var claims = JsonDocument.Parse(payload);
        Assert.Equal(p.B.Uid, claims.RootElement.Str("sub"));
        Assert.Equal(call.SessionId(), claims.RootElement.Str("sid"));
        var exp = claims.RootElement.GetProperty("exp").GetInt64();
        Assert.InRange(exp - DateTimeOffset.UtcNow.ToUnixTimeSeconds(), 3000, 3600);
        Assert.Equal(exp, token.GetProperty("expiresAt").GetInt64());
    }

    private async Task<Pair> PairAsync(bool crossNode)
    {
        var users = await cluster.Admin.UsersAsync(2);
        var a = await WsClient.ConnectAsync(cluster.A, users[0].Uid, users[0].Token);
        var b = await WsClient.ConnectAsync(cluster.Node(crossNode), users[1].Uid, users[1].Token);
        return new Pair(a, b);
    }

    private sealed record Pair(WsClient A, WsClient B) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            await A.DisposeAsync();
            await B.DisposeAsync();
        }
    }
}
