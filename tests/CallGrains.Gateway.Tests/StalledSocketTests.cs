using System.Net;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Text;
using CallGrains.Abstractions;
using CallGrains.Gateway.Sockets;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;

namespace CallGrains.Gateway.Tests;

/// <summary>Sockets whose peer stops taking part are let go on the gateway's clock, and leave nothing registered behind.</summary>
[Collection(FakeClockGroup.Name)]
public sealed class StalledSocketTests(FakeClockNode fixture)
{
    [Fact]
    public async Task A_socket_that_never_answers_the_servers_close_is_dropped_10_s_later()
    {
        fixture.RefillBuckets();
        var (uid, token) = (await fixture.Admin.UsersAsync(1, "deaf"))[0];
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, fixture.Node.HttpPort);
        var stream = tcp.GetStream();
        await UpgradeRawAsync(stream, token);
        await WaitAsync(() => Registry.For(uid).Length == 1, "the raw socket was never registered");

        // The server closes (4001) and the peer, which never reads a frame, cannot answer.
        using (await fixture.Admin.SendAsync(HttpMethod.Delete, $"/v1/users/{uid}/tokens"))
        {
        }

        var dropped = DrainUntilClosedAsync(stream);
        await AdvanceUntilAsync(dropped, TimeSpan.FromSeconds(11), 20);
        Assert.True(dropped.IsCompleted, "the server kept a socket whose peer never answered its close");
        await WaitAsync(() => Registry.For(uid).Length == 0, "the dropped socket is still counted");
    }

    [Fact]
    public async Task A_message_started_and_never_finished_drops_the_socket_after_the_idle_timeout()
    {
        fixture.RefillBuckets();
        var (uid, token) = (await fixture.Admin.UsersAsync(1, "half"))[0];
        using var socket = new ClientWebSocket();
        socket.Options.SetRequestHeader("Authorization", $"Bearer {token}");
        await socket.ConnectAsync(new Uri($"ws://127.0.0.1:{fixture.Node.HttpPort}/v1/ws"), CancellationToken.None);

        // A pending receive keeps answering the server's pings: only the unfinished message can get this socket dropped.
        var closed = ReadUntilClosedAsync(socket);
        await socket.SendAsync("{\"id\":\"1\",\"op\":\"pi"u8.ToArray(), WebSocketMessageType.Text, endOfMessage: false, CancellationToken.None);
        await WaitAsync(() => Registry.For(uid).Length == 1, "the socket was never registered");

        // Tokens live 10 minutes on this node: stop well before, so expiry cannot be what closes it.
        await AdvanceUntilAsync(closed, TimeSpan.FromSeconds(31), 8);
        Assert.True(closed.IsCompleted, "a half-sent message kept its socket (and the buffer it fills) open");
        await WaitAsync(() => Registry.For(uid).Length == 0, "the dropped socket is still counted");
    }

    [Fact]
    public async Task A_device_whose_upgrade_fails_after_registering_is_unregistered()
    {
        // Kestrel refuses the second upgrade of a node allowed one, after the device was registered with its user.
        await using var node = await GatewayNode.StartWithAsync(b => b.WebHost.ConfigureKestrel(k => k.Limits.MaxConcurrentUpgradedConnections = 1));
        using var admin = new Admin(node.BaseUri);
        var (uid, token) = (await admin.UsersAsync(1))[0];
        await using var first = await WsClient.ConnectAsync(node, uid, token, "first");

        using var refused = await Upgrade.SendAsync(admin.Http, token, "deviceId=second");

        Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
        var user = node.Services.GetRequiredService<IGrainFactory>().Ref<IUserGrain>(uid);
        Assert.Equal(["first"], (await user.GetSnapshot())!.Devices.Select(d => d.DeviceId));
    }

    private ConnectionRegistry Registry => fixture.Node.Services.GetRequiredService<ConnectionRegistry>();

    /// <summary>Moves the gateway's clock by <paramref name="step"/> until <paramref name="done"/> completes (a second of real time per step).</summary>
    private async Task AdvanceUntilAsync(Task done, TimeSpan step, int steps)
    {
        for (var i = 0; i < steps && !done.IsCompleted; i++)
        {
            fixture.Clock.Advance(step);
            await Task.WhenAny(done, Task.Delay(TimeSpan.FromSeconds(1)));
        }
    }

    private static async Task UpgradeRawAsync(NetworkStream stream, string token)
    {
        var key = Convert.ToBase64String(Guid.NewGuid().ToByteArray());
        await stream.WriteAsync(Encoding.ASCII.GetBytes(
            $"GET /v1/ws?deviceId=raw HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n" +
            $"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {key}\r\nAuthorization: Bearer {token}\r\n\r\n"));
        var head = new StringBuilder();
        var one = new byte[1];
        while (!head.ToString().EndsWith("\r\n\r\n", StringComparison.Ordinal) && head.Length < 4096)
        {
            Assert.Equal(1, await stream.ReadAsync(one).AsTask().WaitAsync(TimeSpan.FromSeconds(30)));
            head.Append((char)one[0]);
        }

        Assert.StartsWith("HTTP/1.1 101", head.ToString(), StringComparison.Ordinal);
    }

    /// <summary>Reads (and ignores) whatever comes, answering nothing, until the server drops the connection.</summary>
    private static async Task DrainUntilClosedAsync(NetworkStream stream)
    {
        var buffer = new byte[4096];
        try
        {
            while (await stream.ReadAsync(buffer) > 0)
            {
            }
        }
        catch (IOException)
        {
        }
    }

    private static async Task ReadUntilClosedAsync(ClientWebSocket socket)
    {
        var buffer = new byte[4096];
        try
        {
            while ((await socket.ReceiveAsync(buffer, CancellationToken.None)).MessageType != WebSocketMessageType.Close)
            {
            }
        }
        catch (WebSocketException)
        {
        }
    }

    private static async Task WaitAsync(Func<bool> condition, string failure)
    {
        for (var i = 0; i < 300 && !condition(); i++)
        {
            await Task.Delay(100);
        }

        Assert.True(condition(), failure);
    }
}
