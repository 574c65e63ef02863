using System.Net.WebSockets;
using System.Text.Json;
using CallGrains.LocalCluster;

namespace CallGrains.Gateway.Tests;

/// <summary>
/// A gateway that stops tells its clients 1012; they reconnect to another gateway and their call goes on. The
/// nodes keep state in a real redis-server, as in production: memory storage would die with the stopped silo.
/// </summary>
public sealed class ShutdownTests : IAsyncLifetime
{
    private RedisProcess _redis = null!;
    private GatewayNode _staying = null!;
    private GatewayNode _leaving = null!;
    private Admin _admin = null!;

    public async Task InitializeAsync()
    {
        _redis = await RedisProcess.StartAsync();
        _staying = await GatewayNode.StartAsync(null, _redis.ConnectionString, "--Calls:DisconnectGraceSeconds=30");
        _leaving = await GatewayNode.StartAsync(null, _redis.ConnectionString, "--Calls:DisconnectGraceSeconds=30");
        _admin = new Admin(_staying.BaseUri);
        await _admin.WaitForClusterAsync(_leaving.BaseUri);
    }

    public async Task DisposeAsync()
    {
        _admin.Dispose();
        await _leaving.DisposeAsync();
        await _staying.DisposeAsync();
        await _redis.DisposeAsync();
    }

    [Fact]
    public async Task Clients_of_a_stopping_gateway_get_1012_reconnect_elsewhere_and_the_call_goes_on()
    {
        var users = await _admin.UsersAsync(2);
        var a = await WsClient.ConnectAsync(_leaving, users[0].Uid, users[0].Token, "phone");
        await using var b = await WsClient.ConnectAsync(_staying, users[1].Uid, users[1].Token);
        var call = await a.CallAsync(b.Uid);
        await b.RequestAsync("acceptCall", new { sessionId = call.SessionId() });
        await a.EventAsync(0, "outgoingCallAccepted");

        var stopping = _leaving.StopAsync();
        Assert.Equal((WebSocketCloseStatus)1012, await a.WaitClosedAsync());
        await a.DisposeAsync();

        // As a client does: reconnect elsewhere, backing off while the cluster settles (503 meanwhile).
        await using var again = await ReconnectAsync(_staying, users[0].Uid, users[0].Token);
        await stopping;
        var active = again.Welcome.GetProperty("activeCall");
        Assert.Equal(call.SessionId(), active.Str("sessionId"));
        Assert.Equal("ongoing", active.Str("status"));
        Assert.Equal(1, again.Welcome.Seq());

        var sent = await again.RequestAsync("signal", new { sessionId = call.SessionId(), to = b.Uid, data = new { candidate = "x" } });
        Assert.True(sent.IsOk());
        await b.EventAsync(1, "signal");
        var ended = await again.RequestAsync("endCall", new { sessionId = call.SessionId() });
        Assert.Equal("ended", ended.Status());
        await b.EventAsync(2, "callEndedMessageReceived");
        Assert.Equal(JsonValueKind.Null, (await b.RequestAsync("sync")).GetProperty("activeCall").ValueKind);
    }

    private static async Task<WsClient> ReconnectAsync(GatewayNode node, string uid, string token)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            try
            {
                return await WsClient.ConnectAsync(node, uid, token, "phone");
            }
            catch (WebSocketException ex) when (ex.Message.Contains("503", StringComparison.Ordinal) && DateTime.UtcNow < deadline)
            {
                await Task.Delay(250);
            }
        }
    }
}
