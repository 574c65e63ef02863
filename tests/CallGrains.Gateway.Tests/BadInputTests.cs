using System.Net.Sockets;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;

namespace CallGrains.Gateway.Tests;

[Collection(TwoNodeGroup.Name)]
public sealed class BadInputTests(TwoNodeFixture cluster)
{
    [Fact]
    public async Task Malformed_json_is_ERR_BAD_REQUEST_and_the_socket_stays_open()
    {
        await using var c = await OneAsync();

        var response = await c.SendRawAsync("{\"id\":\"1\",\"op\":");

        Assert.False(response.IsOk());
        Assert.Equal("ERR_BAD_REQUEST", response.ErrorCode());
        Assert.Equal(JsonValueKind.Null, response.GetProperty("id").ValueKind);
        Assert.True((await c.RequestAsync("ping")).IsOk());
    }

    [Fact]
    public async Task An_id_or_op_that_is_a_lone_surrogate_is_ERR_BAD_REQUEST_and_the_socket_stays_open()
    {
        await using var c = await OneAsync();

        foreach (var frame in new[] { "{\"id\":\"\\ud800\",\"op\":\"ping\"}", "{\"id\":\"\\udfff\",\"op\":\"\\ud800\"}" })
        {
            var response = await c.SendRawAsync(frame);
            Assert.Equal("ERR_BAD_REQUEST", response.ErrorCode());
            Assert.Equal(JsonValueKind.Null, response.GetProperty("id").ValueKind);
        }

        Assert.True((await c.RequestAsync("ping")).IsOk());
        Assert.Null(c.CloseStatus);
    }

    [Fact]
    public async Task A_request_cut_off_by_a_close_frame_mid_message_is_not_carried_out()
    {
        var users = await cluster.Admin.UsersAsync(2);
        await using var bob = await WsClient.ConnectAsync(cluster.A, users[1].Uid, users[1].Token);
        using var alice = new ClientWebSocket();
        alice.Options.SetRequestHeader("Authorization", $"Bearer {users[0].Token}");
        await alice.ConnectAsync(new Uri($"ws://127.0.0.1:{cluster.A.HttpPort}/v1/ws"), CancellationToken.None);
        var welcome = new byte[64 * 1024];
        Assert.Equal(WebSocketMessageType.Text, (await alice.ReceiveAsync(welcome, CancellationToken.None)).MessageType);

        // The whole request, but as a first fragment (no FIN), then the close.
        var request = $"{{\"id\":\"1\",\"op\":\"initiateCall\",\"receiverId\":\"{users[1].Uid}\",\"receiverType\":\"user\",\"callType\":\"audio\"}}";
        await alice.SendAsync(Encoding.UTF8.GetBytes(request), WebSocketMessageType.Text, endOfMessage: false, CancellationToken.None);
        await alice.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "gone", CancellationToken.None);

        // The server is done with the socket once its close arrives: anything it carried out, it did before that.
        using (var limit = new CancellationTokenSource(TimeSpan.FromSeconds(30)))
        {
            for (var i = 0; i < 10 && alice.State != WebSocketState.Closed; i++)
            {
                if ((await alice.ReceiveAsync(welcome, limit.Token)).MessageType == WebSocketMessageType.Close)
                {
                    break;
                }
            }
        }

        await bob.NoMoreEventsAsync(0);
        Assert.Equal(0, (await bob.RequestAsync("sync")).Seq());
    }

    [Fact]
    public async Task An_unknown_op_is_ERR_BAD_REQUEST_with_the_request_id()
    {
        await using var c = await OneAsync();

        var response = await c.RequestAsync("teleport");

        Assert.Equal("ERR_BAD_REQUEST", response.ErrorCode());
        Assert.StartsWith("r", response.Str("id"), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("{\"op\":\"ping\"}")]
    [InlineData("{\"id\":\"\",\"op\":\"ping\"}")]
    [InlineData("{\"id\":7,\"op\":\"ping\"}")]
    [InlineData("[1,2,3]")]
    [InlineData("\"just a string\"")]
    public async Task A_request_without_a_valid_id_is_ERR_BAD_REQUEST(string frame)
    {
        await using var c = await OneAsync();

        var response = await c.SendRawAsync(frame);

        Assert.Equal("ERR_BAD_REQUEST", response.ErrorCode());
    }

    [Theory]
    [InlineData("{\"id\":\"x\",\"op\":\"initiateCall\",\"receiverType\":\"user\",\"callType\":\"audio\"}")]
    [InlineData("{\"id\":\"x\",\"op\":\"initiateCall\",\"receiverId\":5,\"receiverType\":\"user\",\"callType\":\"audio\"}")]
    [InlineData("{\"id\":\"x\",\"op\":\"initiateCall\",\"receiverId\":\"b\",\"receiverType\":\"room\",\"callType\":\"audio\"}")]
    [InlineData("{\"id\":\"x\",\"op\":\"initiateCall\",\"receiverId\":\"b\",\"receiverType\":\"user\",\"callType\":\"hologram\"}")]
    [InlineData("{\"id\":\"x\",\"op\":\"initiateCall\",\"receiverId\":\"b\",\"receiverType\":\"user\",\"callType\":\"audio\",\"timeoutSeconds\":\"10\"}")]
    [InlineData("{\"id\":\"x\",\"op\":\"initiateCall\",\"receiverId\":\"b\",\"receiverType\":\"user\",\"callType\":\"audio\",\"timeoutSeconds\":2}")]
    [InlineData("{\"id\":\"x\",\"op\":\"initiateCall\",\"receiverId\":\"b\",\"receiverType\":\"user\",\"callType\":\"audio\",\"metadata\":\"text\"}")]
    [InlineData("{\"id\":\"x\",\"op\":\"initiateCall\",\"receiverId\":\"b c\",\"receiverType\":\"user\",\"callType\":\"audio\"}")]
    [InlineData("{\"id\":\"x\",\"op\":\"initiateCall\",\"receiverId\":\"b\",\"receiverType\":\"team\",\"callType\":\"audio\"}")]
    [InlineData("{\"id\":\"x\",\"op\":\"acceptCall\"}")]
    [InlineData("{\"id\":\"x\",\"op\":\"acceptCall\",\"sessionId\":42}")]
    [InlineData("{\"id\":\"x\",\"op\":\"rejectCall\",\"sessionId\":\"abc\",\"status\":\"maybe\"}")]
    [InlineData("{\"id\":\"x\",\"op\":\"signal\",\"sessionId\":\"abc\",\"to\":\"b\",\"data\":\"not an object\"}")]
    [InlineData("{\"id\":\"x\",\"op\":\"joinCall\",\"sessionId\":7}")]
    [InlineData("{\"id\":\"x\",\"op\":\"acceptCall\",\"sessionId\":\"\\ud800\"}")]
    [InlineData("{\"id\":\"x\",\"op\":\"initiateCall\",\"receiverId\":\"b\\udc00\",\"receiverType\":\"user\",\"callType\":\"audio\"}")]
    public async Task Missing_fields_and_wrong_types_are_ERR_BAD_REQUEST(string frame)
    {
        await using var c = await OneAsync();

        var response = await c.SendRawAsync(frame, "x");

        Assert.Equal("ERR_BAD_REQUEST", response.ErrorCode());
        Assert.True((await c.RequestAsync("ping")).IsOk());
    }

    [Theory]
    [InlineData("{\"id\":\"x\",\"op\":\"acceptCall\",\"sessionId\":\"no spaces allowed\"}")]
    [InlineData("{\"id\":\"x\",\"op\":\"endCall\",\"sessionId\":\"\"}")]
    public async Task A_malformed_session_id_is_ERR_INVALID_SESSION_ID(string frame)
    {
        await using var c = await OneAsync();

        Assert.Equal("ERR_INVALID_SESSION_ID", (await c.SendRawAsync(frame, "x")).ErrorCode());
    }

    [Fact]
    public async Task Metadata_over_4_KiB_is_ERR_BAD_REQUEST()
    {
        await using var c = await OneAsync();

        var response = await c.RequestAsync("initiateCall", new { receiverId = "b", receiverType = "user", callType = "audio", metadata = new { x = new string('y', 4200) } });

        Assert.Equal("ERR_BAD_REQUEST", response.ErrorCode());
    }

    [Fact]
    public async Task A_65_KiB_message_closes_the_socket_with_1009()
    {
        await using var c = await OneAsync();

        await c.SendTextAsync($"{{\"id\":\"1\",\"op\":\"ping\",\"pad\":\"{new string('x', 65 * 1024)}\"}}");

        Assert.Equal(WebSocketCloseStatus.MessageTooBig, await c.WaitClosedAsync());
    }

    [Fact]
    public async Task A_64_KiB_message_is_still_read()
    {
        await using var c = await OneAsync();
        var frame = $"{{\"id\":\"big\",\"op\":\"ping\",\"pad\":\"\"}}";
        frame = frame.Replace("\"pad\":\"\"", $"\"pad\":\"{new string('x', (64 * 1024) - frame.Length)}\"", StringComparison.Ordinal);
        Assert.Equal(64 * 1024, Encoding.UTF8.GetByteCount(frame));

        Assert.True((await c.SendRawAsync(frame, "big")).IsOk());
    }

    [Fact]
    public async Task A_binary_message_closes_the_socket_with_1003()
    {
        await using var c = await OneAsync();

        await c.SendBytesAsync([1, 2, 3], WebSocketMessageType.Binary);

        Assert.Equal(WebSocketCloseStatus.InvalidMessageType, await c.WaitClosedAsync());
    }

    [Fact]
    public async Task The_wrong_party_is_refused_for_every_op_and_the_call_is_unchanged()
    {
        var users = await cluster.Admin.UsersAsync(3);
        await using var a = await WsClient.ConnectAsync(cluster.A, users[0].Uid, users[0].Token);
        await using var b = await WsClient.ConnectAsync(cluster.B, users[1].Uid, users[1].Token);
        await using var c = await WsClient.ConnectAsync(cluster.A, users[2].Uid, users[2].Token);
        var call = await a.CallAsync(b.Uid);
        var sessionId = call.SessionId();

        var refusals = new[]
        {
            await a.RequestAsync("acceptCall", new { sessionId }),
            await a.RequestAsync("rejectCall", new { sessionId, status = "rejected" }),
            await a.RequestAsync("rejectCall", new { sessionId, status = "busy" }),
            await b.RequestAsync("rejectCall", new { sessionId, status = "cancelled" }),
            await c.RequestAsync("acceptCall", new { sessionId }),
            await c.RequestAsync("rejectCall", new { sessionId, status = "rejected" }),
            await c.RequestAsync("rejectCall", new { sessionId, status = "cancelled" }),
            await c.RequestAsync("endCall", new { sessionId }),
            await c.RequestAsync("generateToken", new { sessionId }),
            await c.RequestAsync("signal", new { sessionId, to = b.Uid, data = new { x = 1 } }),
        };
        Assert.All(refusals, r => Assert.Equal("ERR_PERMISSION_DENIED", r.ErrorCode()));
        using var rest = await cluster.Admin.SendAsync(HttpMethod.Get, $"/v1/calls/{sessionId}", apiKey: null, bearer: users[2].Token);
        Assert.Equal(System.Net.HttpStatusCode.Forbidden, rest.StatusCode);

        Assert.Equal("initiated", (await a.RequestAsync("sync")).GetProperty("activeCall").Str("status"));
        Assert.Equal(sessionId, Assert.Single((await b.RequestAsync("sync")).GetProperty("ringing").EnumerateArray()).Str("sessionId"));
        await b.RequestAsync("acceptCall", new { sessionId });
        var ongoingRefusals = new[]
        {
            await c.RequestAsync("endCall", new { sessionId }),
            await c.RequestAsync("signal", new { sessionId, to = a.Uid, data = new { x = 1 } }),
            await a.RequestAsync("signal", new { sessionId, to = c.Uid, data = new { x = 1 } }),
        };
        Assert.All(ongoingRefusals, r => Assert.Equal("ERR_PERMISSION_DENIED", r.ErrorCode()));
        Assert.Equal("ongoing", (await b.RequestAsync("sync")).GetProperty("activeCall").Str("status"));
        Assert.Empty(c.Events);
    }

    private async Task<WsClient> OneAsync()
    {
        var (uid, token) = (await cluster.Admin.UsersAsync(1))[0];
        return await WsClient.ConnectAsync(cluster.A, uid, token);
    }
}

/// <summary>A node of its own, with limits a test can reach quickly.</summary>
public sealed class FuzzTests : IAsyncLifetime
{
    private GatewayNode _node = null!;
    private Admin _admin = null!;

    public async Task InitializeAsync()
    {
        _node = await GatewayNode.StartAsync(null, null, "--Gateway:MessagesPerSecond=100000", "--Gateway:MessageBurst=100000", "--Gateway:PingIntervalSeconds=1", "--Gateway:IdleTimeoutSeconds=2");
        _admin = new Admin(_node.BaseUri);
    }

    public async Task DisposeAsync()
    {
        _admin.Dispose();
        await _node.DisposeAsync();
    }

    [Fact]
    public async Task A_thousand_fuzzed_frames_each_get_an_error_and_change_nothing()
    {
        var users = await _admin.UsersAsync(2);
        await using var a = await WsClient.ConnectAsync(_node, users[0].Uid, users[0].Token);
        await using var b = await WsClient.ConnectAsync(_node, users[1].Uid, users[1].Token);
        var call = await a.CallAsync(b.Uid);
        await b.EventAsync(0, "incomingCallReceived");
        var fuzzer = new FrameFuzzer(new Random(20261124), b.Uid);

        for (var i = 0; i < 1000; i++)
        {
            var (frame, id) = fuzzer.Next();
            var response = await a.SendRawAsync(frame, id);
            Assert.False(response.IsOk(), $"frame {i} was accepted: {frame}");
            Assert.StartsWith("ERR", response.ErrorCode(), StringComparison.Ordinal);
        }

        var sync = await a.RequestAsync("sync");
        Assert.Equal(call.SessionId(), sync.GetProperty("activeCall").Str("sessionId"));
        Assert.Equal("initiated", sync.GetProperty("activeCall").Str("status"));
        Assert.Equal(0, sync.Seq());
        await b.NoMoreEventsAsync(1);
        Assert.Empty(a.Events);
    }

    [Fact]
    public async Task A_peer_that_never_answers_pings_is_dropped()
    {
        var (_, token) = (await _admin.UsersAsync(1))[0];
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(System.Net.IPAddress.Loopback, _node.HttpPort);
        var stream = tcp.GetStream();
        var handshake = $"GET /v1/ws HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {Convert.ToBase64String(Guid.NewGuid().ToByteArray())}\r\nAuthorization: Bearer {token}\r\n\r\n";
        await stream.WriteAsync(Encoding.ASCII.GetBytes(handshake));

        // Read (and never answer) until the server gives up on us: it must close within the idle timeout.
        var buffer = new byte[8192];
        var started = DateTime.UtcNow;
        // Not before the 2 s idle timeout; the upper bound only tells "dropped" from "never dropped" on a slow machine.
        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(45));
        try
        {
            while (await stream.ReadAsync(buffer, limit.Token) > 0)
            {
            }
        }
        catch (IOException)
        {
            // Reset by the server: dropped, as expected.
        }

        Assert.InRange((DateTime.UtcNow - started).TotalSeconds, 1.5, 30);
    }
}

/// <summary>Seeded frames that are never a valid request: broken JSON, wrong shapes, wrong types, unknown calls.</summary>
public sealed class FrameFuzzer(Random rng, string otherUid)
{
    // sync and ping take no arguments and ignore unknown fields, so they would be valid requests: left out.
    private static readonly string[] Ops = ["initiateCall", "acceptCall", "rejectCall", "endCall", "joinCall", "leaveCall", "generateToken", "signal", "nope", ""];
    private static readonly string[] Fields = ["receiverId", "receiverType", "callType", "timeoutSeconds", "metadata", "sessionId", "status", "to", "data"];
    private int _n;

    public (string Frame, string? Id) Next()
    {
        var id = $"f{++_n}";
        return rng.Next(7) switch
        {
            0 => (RandomText(), null),
            1 => (Truncate(ValidLooking(id)), null),
            2 => ("[" + rng.Next() + "]", null),
            3 => ("{\"op\":\"ping\",\"id\":" + (rng.Next(2) == 0 ? "null" : rng.Next().ToString(System.Globalization.CultureInfo.InvariantCulture)) + "}", null),
            4 => ($"{{\"id\":\"{id}\",\"op\":\"{Ops[rng.Next(Ops.Length)]}\",\"{Fields[rng.Next(Fields.Length)]}\":{RandomValue()},\"sessionId\":{RandomValue()}}}", id),
            5 => ($"{{\"id\":\"{id}\",\"op\":\"{Ops[rng.Next(4)]}\",\"sessionId\":\"{Guid.NewGuid():N}\",\"status\":\"cancelled\",\"receiverId\":\"{otherUid}\",\"receiverType\":\"user\",\"callType\":\"video\"}}", id),
            _ => ($"{{\"id\":\"{id}\",\"op\":\"{Ops[rng.Next(Ops.Length)]}x\"}}", id),
        };
    }

    private string ValidLooking(string id) => $"{{\"id\":\"{id}\",\"op\":\"ping\",\"x\":[1,2,{{\"y\":\"{new string('z', rng.Next(50))}\"}}]}}";

    private string Truncate(string s) => s[..rng.Next(1, s.Length - 1)];

    private string RandomText()
    {
        var chars = new char[rng.Next(1, 200)];
        for (var i = 0; i < chars.Length; i++)
        {
            chars[i] = (char)rng.Next(32, 0x2FF);
        }

        // Never a complete JSON document: start inside a string or with a stray token.
        return "{\"" + new string(chars).Replace("\"", "'", StringComparison.Ordinal) + (rng.Next(2) == 0 ? "" : "\":");
    }

    private string RandomValue() => rng.Next(8) switch
    {
        0 => "null",
        1 => "true",
        2 => rng.Next().ToString(System.Globalization.CultureInfo.InvariantCulture),
        3 => "-1e309",
        4 => "{\"a\":{\"b\":{\"c\":[]}}}",
        5 => "[\"x\",1]",
        6 => $"\"{new string('q', rng.Next(0, 300))} ;\"",
        _ => "\"\"",
    };
}
