using System.Net;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using CallGrains.Abstractions;
using CallGrains.Gateway.Auth;
using CallGrains.Gateway.Sockets;

namespace CallGrains.Gateway.Tests;

/// <summary>
/// What the user grain publishes for a device between its registration and its socket joining the gateway's registry
/// reaches the socket after its welcome, in order, once (<see cref="ConnectionRegistry.Expect"/>). The interleavings a
/// connect race produces, made one at a time, on a real socket pair on 127.0.0.1.
/// </summary>
public sealed class ArrivalTests
{
    private const string Uid = "arriving";

    [Fact]
    public async Task Events_published_during_the_admission_follow_the_welcome_and_the_ones_it_covers_are_not_repeated()
    {
        using var pair = await SocketPair.OpenAsync();
        var registry = new ConnectionRegistry(new GatewayMetrics());
        var arrival = registry.Expect(Uid, "phone");

        // The welcome's snapshot will be seq 1: an event it covers, the event after it, one for another device only.
        await registry.DeliverAsync(Event(1));
        await registry.DeliverAsync(Event(2));
        await registry.DeliverAsync(Event(3) with { OnlyDeviceId = "tablet" });

        var connection = pair.Connection(Uid, "phone");
        connection.SawSeq(1);
        connection.Send(Encoding.UTF8.GetBytes("""{"event":"welcome","seq":1}"""));
        registry.Add(connection, arrival);
        await registry.DeliverAsync(Event(4));

        Assert.Equal(["welcome:1", "incomingCallReceived:2", "incomingCallReceived:4"], await pair.ReadAsync(3));
        arrival.Dispose();
        await registry.DeliverAsync(Event(5));
        Assert.Equal(["incomingCallReceived:5"], await pair.ReadAsync(1));
    }

    [Fact]
    public async Task An_admission_that_failed_keeps_nothing_and_a_long_one_keeps_a_bounded_number()
    {
        using var pair = await SocketPair.OpenAsync();
        var registry = new ConnectionRegistry(new GatewayMetrics());
        var failed = registry.Expect(Uid, "phone");
        await registry.DeliverAsync(Event(1));
        failed.Dispose();

        var arrival = registry.Expect(Uid, "phone");
        for (var seq = 2; seq <= ConnectionRegistry.Arrival.MaxKept + 11; seq++)
        {
            await registry.DeliverAsync(Event(seq));
        }

        var connection = pair.Connection(Uid, "phone");
        connection.Send(Encoding.UTF8.GetBytes("""{"event":"welcome","seq":0}"""));
        registry.Add(connection, arrival);

        // Past the cap the device sees a gap and asks for sync (PROTOCOL 2), as after any lost event.
        var received = await pair.ReadAsync(1 + ConnectionRegistry.Arrival.MaxKept);
        Assert.Equal("welcome:0", received[0]);
        Assert.Equal(Enumerable.Range(2, ConnectionRegistry.Arrival.MaxKept).Select(s => $"incomingCallReceived:{s}"), received.Skip(1));
    }

    [Fact]
    public async Task A_socket_that_joined_holds_nothing_its_admission_kept()
    {
        using var pair = await SocketPair.OpenAsync();
        var registry = new ConnectionRegistry(new GatewayMetrics());
        var arrival = registry.Expect(Uid, "phone");
        var kept = await DeliverUnheldAsync(registry, 1);

        var connection = pair.Connection(Uid, "phone");
        connection.Send(Encoding.UTF8.GetBytes("""{"event":"welcome","seq":0}"""));
        registry.Add(connection, arrival);
        Assert.Equal(["welcome:0", "incomingCallReceived:1"], await pair.ReadAsync(2));

        // The arrival stays reachable from the handshake while the socket lives; what it kept must not.
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        Assert.False(kept.IsAlive, "an open socket still holds a delivery kept during its admission");
        GC.KeepAlive(arrival);
        GC.KeepAlive(connection);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static async Task<WeakReference> DeliverUnheldAsync(ConnectionRegistry registry, long seq)
    {
        var delivery = Event(seq);
        await registry.DeliverAsync(delivery);
        return new WeakReference(delivery);
    }

    private static GatewayDelivery Event(long seq) => new(Uid, null, new CallEvent
    {
        Type = CallEventType.IncomingCallReceived,
        Seq = seq,
        Call = new CallInfo
        {
            SessionId = $"s{seq}",
            CallType = CallType.Audio,
            ReceiverType = ReceiverType.User,
            ReceiverId = Uid,
            Initiator = new UserRef("caller", "caller"),
            Status = CallStatus.Initiated,
            InitiatedAt = DateTimeOffset.UnixEpoch,
        },
    });

    /// <summary>A server and a client WebSocket over one TCP connection on 127.0.0.1.</summary>
    private sealed class SocketPair(TcpClient client, TcpClient server) : IDisposable
    {
        private readonly WebSocket _client = WebSocket.CreateFromStream(client.GetStream(), new WebSocketCreationOptions { IsServer = false });
        private readonly WebSocket _server = WebSocket.CreateFromStream(server.GetStream(), new WebSocketCreationOptions { IsServer = true });

        public static async Task<SocketPair> OpenAsync()
        {
            var listener = new TcpListener(IPAddress.Loopback, 0);
            listener.Start();
            try
            {
                var client = new TcpClient();
                var accepted = listener.AcceptTcpClientAsync();
                await client.ConnectAsync(IPAddress.Loopback, ((IPEndPoint)listener.LocalEndpoint).Port);
                return new SocketPair(client, await accepted);
            }
            finally
            {
                listener.Stop();
            }
        }

        public Connection Connection(string uid, string deviceId) =>
            new(new AuthClaims(uid, 0, DateTimeOffset.MaxValue), deviceId, _server, new GatewayOptions(), TimeProvider.System, CancellationToken.None);

        /// <summary>The next <paramref name="count"/> messages as "event:seq"; fails after 10 s.</summary>
        public async Task<List<string>> ReadAsync(int count)
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            var buffer = new byte[64 * 1024];
            var messages = new List<string>();
            while (messages.Count < count)
            {
                var length = 0;
                ValueWebSocketReceiveResult result;
                do
                {
                    result = await _client.ReceiveAsync(buffer.AsMemory(length), timeout.Token);
                    length += result.Count;
                }
                while (!result.EndOfMessage);

                using var json = JsonDocument.Parse(buffer.AsMemory(0, length));
                messages.Add($"{json.RootElement.GetProperty("event").GetString()}:{json.RootElement.GetProperty("seq").GetInt64()}");
            }

            return messages;
        }

        public void Dispose()
        {
            _client.Dispose();
            _server.Dispose();
            client.Dispose();
            server.Dispose();
        }
    }
}
