using System.Net;
using System.Net.Sockets;
using CallGrains.Gateway.Tests;

namespace CallGrains.Client.Tests;

/// <summary>What the client does when the server goes away, refuses its token, or another connection takes its device.</summary>
[Collection(ClientNodeGroup.Name)]
public sealed class ServerDownTests(ClientNodeFixture shared)
{
    [Fact]
    public async Task Reconnect_attempts_back_off_while_the_server_is_down_and_resume_when_it_is_back()
    {
        var port = GatewayNode.FreePort();
        var first = await GatewayNode.StartAsync(null, null, $"--urls=http://127.0.0.1:{port}");
        var server = new Uri($"http://127.0.0.1:{port}");
        (string Uid, string Token) user;
        using (var admin = new CallGrainsAdminClient(server, GatewayNode.AdminKey))
        {
            user = (await Users.CreateAsync(admin, 1, "down"))[0];
        }

        // A cap of 8 s (default 30) keeps the wait for the reconnect short once the server is back.
        await using var client = await Users.ConnectAsync(server, user.Token, configure: o => o.ReconnectMaxDelay = TimeSpan.FromSeconds(8));
        var events = new Recorder(client);
        await first.DisposeAsync();
        await events.WaitAsync<ConnectionStateChangedEventArgs>("connection:Reconnecting");

        // Delays drawn from [0.25 s, 0.5·2ⁿ s], capped: ten seconds hold a handful of attempts; a client retrying in a
        // loop would make thousands.
        var before = client.ConnectAttempts;
        await Task.Delay(TimeSpan.FromSeconds(10));
        var attempts = client.ConnectAttempts - before;
        Assert.InRange(attempts, 2, 15);
        Assert.Equal(ConnectionState.Reconnecting, client.State);

        // The server comes back on the same address: a new in-memory node, where the user is made again before the
        // address answers (a reconnect that reached the node before the user existed would be refused for good, 401).
        var backPort = GatewayNode.FreePort();
        await using var second = await GatewayNode.StartAsync(null, null, $"--urls=http://127.0.0.1:{backPort}");
        using (var admin = new CallGrainsAdminClient(new Uri($"http://127.0.0.1:{backPort}"), GatewayNode.AdminKey))
        {
            await admin.CreateUserAsync(user.Uid, "User 0");
        }

        await using var address = Forwarder.Start(port, backPort);

        await CallFlowTests.WaitUntilAsync(() => client.State == ConnectionState.Connected, "the client to reconnect (its delay is at most 8 s)", seconds: 60);
        Assert.Equal(user.Uid, client.Uid);
        Assert.Null(client.CurrentCall);
    }

    [Fact]
    public async Task A_revoked_token_stops_reconnecting_and_reports_Disconnected_with_the_reason()
    {
        var (uid, token) = (await shared.UsersAsync(1, "revoked"))[0];
        await using var client = await shared.ConnectAsync(token);
        var events = new Recorder(client);

        await shared.Admin.RevokeTokensAsync(uid);

        var disconnected = await events.WaitAsync<ConnectionStateChangedEventArgs>("connection:Disconnected");
        Assert.Equal(ErrorCodes.UserNotLoggedIn, disconnected.ErrorCode);
        await Task.Delay(TimeSpan.FromSeconds(2));
        Assert.Equal(1, client.ConnectAttempts);
        Assert.Equal(ConnectionState.Disconnected, client.State);
        var refused = await Assert.ThrowsAsync<CallGrainsException>(() => client.InitiateCallAsync(new Call(uid, CallType.Audio)));
        Assert.Equal(ErrorCodes.NotConnected, refused.Code);
    }

    [Fact]
    public async Task A_newer_connection_of_the_same_device_replaces_this_one_for_good()
    {
        var (_, token) = (await shared.UsersAsync(1, "twice"))[0];
        await using var old = await shared.ConnectAsync(token, "desk");
        var events = new Recorder(old);

        await using var newer = await shared.ConnectAsync(token, "desk");

        var disconnected = await events.WaitAsync<ConnectionStateChangedEventArgs>("connection:Disconnected");
        Assert.Equal("replaced", disconnected.ErrorCode);
        Assert.Equal(ConnectionState.Connected, newer.State);
        await Task.Delay(TimeSpan.FromSeconds(1));
        Assert.Equal(1, old.ConnectAttempts);
    }

    [Fact]
    public async Task Dispose_closes_cleanly_and_reports_Disconnected_once()
    {
        var (_, token) = (await shared.UsersAsync(1, "bye"))[0];
        var client = await shared.ConnectAsync(token);
        var events = new Recorder(client);

        await client.DisposeAsync();
        await client.DisposeAsync();

        Assert.Equal(ConnectionState.Disconnected, client.State);
        Assert.Equal(["connection:Disconnected"], events.Names);
        await Assert.ThrowsAsync<ObjectDisposedException>(() => client.SyncAsync());
    }
}

/// <summary>Forwards TCP connections from one loopback port to another: an address that starts answering when the test says so.</summary>
internal sealed class Forwarder : IAsyncDisposable
{
    private readonly TcpListener _listener;
    private readonly int _to;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _pumps = [];
    private readonly Task _accepting;

    private Forwarder(int from, int to)
    {
        _to = to;
        _listener = new TcpListener(IPAddress.Loopback, from);
        _listener.Start();
        _accepting = AcceptAsync();
    }

    public static Forwarder Start(int from, int to) => new(from, to);

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        await _accepting;

        // Pumps are added only by the accept loop, which has ended.
        await Task.WhenAll(_pumps).WaitAsync(TimeSpan.FromSeconds(10)).ContinueWith(_ => { }, TaskScheduler.Default);
        _stop.Dispose();
    }

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient inbound;
            try
            {
                inbound = await _listener.AcceptTcpClientAsync(_stop.Token);
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }

            _pumps.Add(PumpAsync(inbound));
        }
    }

    private async Task PumpAsync(TcpClient inbound)
    {
        using (inbound)
        using (var outbound = new TcpClient())
        {
            try
            {
                await outbound.ConnectAsync(IPAddress.Loopback, _to, _stop.Token);
                var a = inbound.GetStream();
                var b = outbound.GetStream();
                await Task.WhenAny(a.CopyToAsync(b, _stop.Token), b.CopyToAsync(a, _stop.Token));
            }
            catch (Exception ex) when (ex is OperationCanceledException or IOException or SocketException or ObjectDisposedException)
            {
                // Either side went away: the connection ends, as it would without the forwarder.
            }
        }
    }
}
