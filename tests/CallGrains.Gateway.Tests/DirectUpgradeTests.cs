using System.Net;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using CallGrains.Abstractions;
using Microsoft.Extensions.DependencyInjection;

namespace CallGrains.Gateway.Tests;

/// <summary>A node with <c>Gateway:DirectUpgrade=false</c>: every upgrade goes through ASP.NET Core, as before the direct path.</summary>
public sealed class AspNetUpgradeNode : NodeFixture
{
    protected override Task<GatewayNode> StartAsync() => GatewayNode.StartAsync(extra: "--Gateway:DirectUpgrade=false");
}

/// <summary>
/// The direct upgrade (Sockets/DirectUpgrade.cs): a plain upgrade is taken at the connection, anything unusual goes
/// through ASP.NET Core, and a client cannot tell the two apart by what it is answered. Kestrel's answers carry
/// <c>Server: Kestrel</c>; the direct path's 101 does not, which is how these tests see which path served a socket.
/// </summary>
[Collection(TwoNodeGroup.Name)]
public sealed class DirectUpgradeTests(TwoNodeFixture cluster, AspNetUpgradeNode aspNet) : IClassFixture<AspNetUpgradeNode>
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task A_plain_upgrade_is_taken_at_the_connection_and_speaks_the_protocol_as_through_aspnet()
    {
        foreach (var (node, admin, direct) in new[] { (cluster.A, cluster.Admin, true), (aspNet.Node, aspNet.Admin, false) })
        {
            var (uid, token) = (await admin.UsersAsync(1, "plain"))[0];
            var key = NewKey();
            using var tcp = await ConnectAsync(node);
            var stream = tcp.GetStream();
            await stream.WriteAsync(Encoding.ASCII.GetBytes(Head($"/v1/ws?deviceId=plain-1", key, $"Authorization: Bearer {token}\r\nSec-WebSocket-Protocol: callgrains.v1\r\n")));

            var head = await ReadHeadAsync(stream);
            Assert.StartsWith("HTTP/1.1 101 ", head, StringComparison.Ordinal);
            Assert.Equal(AcceptKey(key), Header(head, "Sec-WebSocket-Accept"));
            Assert.Equal("callgrains.v1", Header(head, "Sec-WebSocket-Protocol"));
            Assert.Equal(direct ? null : "Kestrel", Header(head, "Server"));

            using var socket = WebSocket.CreateFromStream(stream, new WebSocketCreationOptions { IsServer = false, SubProtocol = "callgrains.v1" });
            var welcome = await ReceiveAsync(socket);
            Assert.Equal("welcome", welcome.Str("event"));
            Assert.Equal("plain-1", welcome.Str("deviceId"));
            await socket.SendAsync("{\"id\":\"p1\",\"op\":\"ping\"}"u8.ToArray(), WebSocketMessageType.Text, true, CancellationToken.None);
            var pong = await ReceiveAsync(socket);
            Assert.Equal("p1", pong.Str("id"));
            Assert.True(pong.GetProperty("ok").GetBoolean());
            var devices = (await node.Services.GetRequiredService<IGrainFactory>().Ref<IUserGrain>(uid).GetSnapshot())!.Devices;
            Assert.Equal(["plain-1"], devices.Select(d => d.DeviceId));
        }
    }

    [Fact]
    public async Task A_request_sent_in_the_same_write_as_the_head_is_answered()
    {
        var (_, token) = (await cluster.Admin.UsersAsync(1, "eager"))[0];
        using var tcp = await ConnectAsync(cluster.A);
        var stream = tcp.GetStream();
        var head = Encoding.ASCII.GetBytes(Head("/v1/ws", NewKey(), $"Authorization: Bearer {token}\r\n"));
        byte[] both = [.. head, .. MaskedText("{\"id\":\"early\",\"op\":\"ping\"}")];
        await stream.WriteAsync(both);

        Assert.StartsWith("HTTP/1.1 101 ", await ReadHeadAsync(stream), StringComparison.Ordinal);
        using var socket = WebSocket.CreateFromStream(stream, new WebSocketCreationOptions { IsServer = false });
        Assert.Equal("welcome", (await ReceiveAsync(socket)).Str("event"));
        Assert.Equal("early", (await ReceiveAsync(socket)).Str("id"));
    }

    [Fact]
    public async Task A_head_that_arrives_a_few_bytes_at_a_time_is_still_taken()
    {
        var (_, token) = (await cluster.Admin.UsersAsync(1, "slow"))[0];
        using var tcp = await ConnectAsync(cluster.A);
        tcp.NoDelay = true;
        var stream = tcp.GetStream();
        var head = Encoding.ASCII.GetBytes(Head("/v1/ws?deviceId=slow-1", NewKey(), $"Authorization: Bearer {token}\r\n"));
        for (var i = 0; i < head.Length; i += 7)
        {
            await stream.WriteAsync(head.AsMemory(i, Math.Min(7, head.Length - i)));
            await Task.Delay(5);
        }

        var answer = await ReadHeadAsync(stream);
        Assert.StartsWith("HTTP/1.1 101 ", answer, StringComparison.Ordinal);
        Assert.Null(Header(answer, "Server"));
    }

    [Theory]
    [InlineData("/v1/ws?deviceId=enc%2D1", "", "enc-1")]
    [InlineData("/v1/ws?deviceId=twice-1", "Sec-WebSocket-Protocol: callgrains.v1\r\nSec-WebSocket-Protocol: other\r\n", "twice-1")]
    [InlineData("/V1/WS?deviceId=case-1", "", "case-1")]
    public async Task An_unusual_upgrade_goes_through_aspnet_and_is_served_there(string target, string extraHeaders, string deviceId)
    {
        var (_, token) = (await cluster.Admin.UsersAsync(1, "odd"))[0];
        using var tcp = await ConnectAsync(cluster.A);
        var stream = tcp.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes(Head(target, NewKey(), $"Authorization: Bearer {token}\r\n{extraHeaders}")));

        var head = await ReadHeadAsync(stream);
        Assert.StartsWith("HTTP/1.1 101 ", head, StringComparison.Ordinal);
        Assert.Equal("Kestrel", Header(head, "Server"));
        using var socket = WebSocket.CreateFromStream(stream, new WebSocketCreationOptions { IsServer = false });
        Assert.Equal(deviceId, (await ReceiveAsync(socket)).Str("deviceId"));
    }

    /// <summary>
    /// Every refusal, on either path, with the same status and error code: those the endpoint decides before asking
    /// the user grain (the direct path leaves them to ASP.NET Core, whose answer says <c>Server: Kestrel</c>) and those
    /// after (the direct path writes them itself). Each request on a connection of its own, as the direct path looks
    /// only at a connection's first request.
    /// </summary>
    [Fact]
    public async Task Refusals_are_the_same_with_and_without_the_direct_path()
    {
        var answers = new List<string>[2];
        foreach (var (i, node, admin) in new[] { (0, cluster.A, cluster.Admin), (1, aspNet.Node, aspNet.Admin) })
        {
            var seen = answers[i] = [];
            var users = await admin.UsersAsync(3, "refused");
            seen.Add(await AnswerAsync(node, token: null));
            seen.Add(await AnswerAsync(node, "not-a-token"));
            seen.Add(await AnswerAsync(node, users[0].Token, "deviceId=bad!id"));

            // Revoked: the signature still checks out, only the user grain knows (so the direct path answers it).
            using (await admin.SendAsync(HttpMethod.Delete, $"/v1/users/{users[1].Uid}/tokens"))
            {
            }

            seen.Add(await AnswerAsync(node, users[1].Token, "deviceId=revoked"));

            // One device over the user's cap: also the user grain's answer.
            var devices = new List<WsClient>();
            try
            {
                for (var d = 0; d < 10; d++)
                {
                    devices.Add(await WsClient.ConnectAsync(node.BaseUri, users[2].Uid, users[2].Token, $"cap{d}"));
                }

                seen.Add(await AnswerAsync(node, users[2].Token, "deviceId=cap10"));
            }
            finally
            {
                foreach (var device in devices)
                {
                    await device.DisposeAsync();
                }
            }
        }

        Assert.Equal(
            ["401 ERR_USER_NOT_LOGGED_IN Kestrel", "401 ERR_USER_NOT_LOGGED_IN Kestrel", "400 ERR_BAD_REQUEST Kestrel", "401 ERR_USER_NOT_LOGGED_IN direct", "429 ERR_TOO_MANY_REQUESTS direct"],
            answers[0]);
        Assert.Equal([.. answers[0].Select(a => a.Replace(" direct", " Kestrel", StringComparison.Ordinal))], answers[1]);
    }

    [Fact]
    public async Task A_peer_that_vanishes_after_a_direct_upgrade_leaves_no_device_behind()
    {
        var (uid, token) = (await cluster.Admin.UsersAsync(1, "gone"))[0];
        using (var tcp = await ConnectAsync(cluster.A))
        {
            var stream = tcp.GetStream();
            await stream.WriteAsync(Encoding.ASCII.GetBytes(Head("/v1/ws?deviceId=gone-1", NewKey(), $"Authorization: Bearer {token}\r\n")));
            Assert.Null(Header(await ReadHeadAsync(stream), "Server"));
            tcp.Client.LingerState = new LingerOption(true, 0);
        }

        var user = cluster.A.Services.GetRequiredService<IGrainFactory>().Ref<IUserGrain>(uid);
        var deadline = DateTime.UtcNow + Wait;
        while ((await user.GetSnapshot())!.Devices.Length > 0 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(100);
        }

        Assert.Empty((await user.GetSnapshot())!.Devices);
    }

    /// <summary>An upgrade on a connection of its own: status, error code, and who answered (Kestrel, or the direct path).</summary>
    private static async Task<string> AnswerAsync(GatewayNode node, string? token, string? query = null)
    {
        using var http = new HttpClient { BaseAddress = node.BaseUri };
        using var response = await Upgrade.SendAsync(http, token, query);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        var server = response.Headers.Server.ToString() is { Length: > 0 } name ? name : "direct";
        return $"{(int)response.StatusCode} {await Upgrade.ErrorCodeAsync(response)} {server}";
    }

    private static async Task<TcpClient> ConnectAsync(GatewayNode node)
    {
        var tcp = new TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, node.HttpPort);
        return tcp;
    }

    private static string Head(string target, string key, string extraHeaders) =>
        $"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {key}\r\n{extraHeaders}\r\n";

    private static string NewKey() => Convert.ToBase64String(RandomNumberGenerator.GetBytes(16));

#pragma warning disable CA5350 // RFC 6455's accept key is SHA-1 by definition
    private static string AcceptKey(string key) => Convert.ToBase64String(SHA1.HashData(Encoding.ASCII.GetBytes(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")));
#pragma warning restore CA5350

    /// <summary>A client's text frame (masked, as RFC 6455 requires of clients), payload under 126 bytes.</summary>
    private static byte[] MaskedText(string text)
    {
        var payload = Encoding.UTF8.GetBytes(text);
        var mask = RandomNumberGenerator.GetBytes(4);
        return [0x81, (byte)(0x80 | payload.Length), .. mask, .. payload.Select((b, i) => (byte)(b ^ mask[i % 4]))];
    }

    /// <summary>The response head, read a byte at a time so nothing after it is taken from the stream.</summary>
    private static async Task<string> ReadHeadAsync(NetworkStream stream)
    {
        var head = new StringBuilder();
        var one = new byte[1];
        while (!head.ToString().EndsWith("\r\n\r\n", StringComparison.Ordinal) && head.Length < 8192)
        {
            Assert.Equal(1, await stream.ReadAsync(one).AsTask().WaitAsync(Wait));
            head.Append((char)one[0]);
        }

        return head.ToString();
    }

    private static string? Header(string head, string name) =>
        head.Split("\r\n").Skip(1)
            .Where(line => line.StartsWith(name + ":", StringComparison.OrdinalIgnoreCase))
            .Select(line => line[(name.Length + 1)..].Trim())
            .SingleOrDefault();

    private static async Task<JsonElement> ReceiveAsync(WebSocket socket)
    {
        var buffer = new byte[64 * 1024];
        var length = 0;
        using var limit = new CancellationTokenSource(Wait);
        while (true)
        {
            var read = await socket.ReceiveAsync(buffer.AsMemory(length), limit.Token);
            length += read.Count;
            if (read.EndOfMessage)
            {
                return JsonDocument.Parse(buffer.AsMemory(0, length)).RootElement.Clone();
            }
        }
    }
}
