using System.Text.Json;

namespace CallGrains.Gateway.Tests;

/// <summary>
/// Two nodes with the initiate quota at its default burst (10) and refilling at 1 a minute, so that a slow machine
/// cannot refill it during the test's burst.
/// </summary>
public sealed class QuotaNodes() : NodePairFixture("--Calls:InitiateBurst=10", "--Calls:InitiatesPerMinute=1");

/// <summary>The initiate quota over real sockets: summed over a user's devices on two nodes; past it, nothing rings.</summary>
public sealed class InitiateQuotaTests(QuotaNodes cluster) : IClassFixture<QuotaNodes>
{
    [Fact]
    public async Task The_eleventh_initiate_in_a_burst_is_refused_and_rings_no_one()
    {
        var users = await cluster.Admin.UsersAsync(2, "qt");
        var (caller, callee) = (users[0], users[1]);
        await using var phone = await WsClient.ConnectAsync(cluster.A, caller.Uid, caller.Token, "phone");
        await using var laptop = await WsClient.ConnectAsync(cluster.B, caller.Uid, caller.Token, "laptop");
        await using var rung = await WsClient.ConnectAsync(cluster.A, callee.Uid, callee.Token);
        await WsClient.RingAndCancelAsync([phone, laptop], rung, 10);

        foreach (var device in new[] { phone, laptop })
        {
            var refused = await device.CallAsync(callee.Uid);
            Assert.Equal("ERR_TOO_MANY_REQUESTS", refused.ErrorCode());
            Assert.False(refused.TryGetProperty("call", out _), refused.ToString());
        }

        await rung.NoMoreEventsAsync(20);
        Assert.Equal(JsonValueKind.Null, (await phone.RequestAsync("sync")).GetProperty("activeCall").ValueKind);
        Assert.Empty((await rung.RequestAsync("sync")).GetProperty("ringing").EnumerateArray());
    }
}
