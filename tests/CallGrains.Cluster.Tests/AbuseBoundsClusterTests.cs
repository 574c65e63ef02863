using CallGrains.Gateway.Tests;

namespace CallGrains.Cluster.Tests;

/// <summary>
/// Call tokens and the initiate quota on the production-shaped cluster (redis-server and three host processes), with
/// the parties on different hosts: what a stranger is refused and what a user's devices may start are decided the same
/// wherever each of them is connected.
/// </summary>
public sealed class AbuseBoundsClusterTests : IAsyncLifetime
{
    private LocalCluster.Cluster? _cluster;

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        if (_cluster is not null)
        {
            await _cluster.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_stranger_on_another_host_gets_no_token_and_a_users_devices_on_two_hosts_share_one_quota()
    {
        // The default burst; refilled at 1 a minute so a slow machine cannot refill it during the burst.
        _cluster = await LocalCluster.Cluster.StartAsync(3, adminKey: Admin.DefaultKey, extra: [.. LocalCluster.LoadSettings.NoCallQuotas, "--Calls:InitiateBurst=10", "--Calls:InitiatesPerMinute=1"]);
        var (hostA, hostB, hostC) = (_cluster.Hosts[0].Url, _cluster.Hosts[1].Url, _cluster.Hosts[2].Url);
        using var admin = new Admin(hostA);
        var users = await admin.UsersAsync(5, "ab");
        await using var a = await WsClient.ConnectAsync(hostA, users[0].Uid, users[0].Token);
        await using var c = await WsClient.ConnectAsync(hostC, users[1].Uid, users[1].Token);
        await using var stranger = await WsClient.ConnectAsync(hostB, users[2].Uid, users[2].Token);

        var sessionId = (await a.CallAsync(c.Uid)).SessionId();
        Assert.True((await c.RequestAsync("acceptCall", new { sessionId })).IsOk());
        Assert.True((await c.RequestAsync("generateToken", new { sessionId })).IsOk());
        (await stranger.RequestAsync("generateToken", new { sessionId })).AssertDeniedWithoutCall();
        (await stranger.RequestAsync("joinCall", new { sessionId })).AssertDeniedWithoutCall();
        using (var rest = await admin.SendAsync(HttpMethod.Post, $"/v1/calls/{sessionId}/token", apiKey: null, bearer: users[2].Token))
        {
            Assert.Equal(System.Net.HttpStatusCode.Forbidden, rest.StatusCode);
        }

        // One user, a phone on host A and a laptop on host B, calling someone on host C: ten, then refused.
        var (caller, callee) = (users[3], users[4]);
        await using var phone = await WsClient.ConnectAsync(hostA, caller.Uid, caller.Token, "phone");
        await using var laptop = await WsClient.ConnectAsync(hostB, caller.Uid, caller.Token, "laptop");
        await using var rung = await WsClient.ConnectAsync(hostC, callee.Uid, callee.Token);
        await WsClient.RingAndCancelAsync([phone, laptop], rung, 10);

        var refused = await phone.CallAsync(callee.Uid);
        Assert.Equal("ERR_TOO_MANY_REQUESTS", refused.ErrorCode());
        Assert.False(refused.TryGetProperty("call", out _), refused.ToString());
        Assert.Equal("ERR_TOO_MANY_REQUESTS", (await laptop.CallAsync(callee.Uid)).ErrorCode());
        await rung.NoMoreEventsAsync(20);
    }
}
