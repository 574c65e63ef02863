using System.Net;
using System.Text.Json;

namespace CallGrains.Gateway.Tests;

/// <summary>The per-connection and HTTP rate limits, counted exactly on a clock that moves only when told.</summary>
[Collection(FakeClockGroup.Name)]
public sealed class RateLimitTests(FakeClockNode fixture)
{
    [Fact]
    public async Task Too_many_requests_are_answered_ERR_TOO_MANY_REQUESTS_one_by_one()
    {
        await using var c = await OneAsync();

        var first = await PingsAsync(c, 30);
        fixture.Clock.Advance(TimeSpan.FromSeconds(1));
        var second = await PingsAsync(c, 15);

        // A burst of 20, then 10 a second: each request still gets its own response, with its own id.
        Assert.Equal(20, first.Count(r => r.IsOk()));
        Assert.Equal(10, second.Count(r => r.IsOk()));
        Assert.All(first.Concat(second).Where(r => !r.IsOk()), r =>
        {
            Assert.Equal("ERR_TOO_MANY_REQUESTS", r.ErrorCode());
            Assert.StartsWith("r", r.Str("id"), StringComparison.Ordinal);
        });
    }

    [Fact]
    public async Task Malformed_frames_spend_the_budget_too()
    {
        await using var c = await OneAsync();

        for (var i = 0; i < 20; i++)
        {
            Assert.Equal("ERR_BAD_REQUEST", (await c.SendRawAsync("{\"id\":\"1\",\"op\":")).ErrorCode());
        }

        var ping = await c.RequestAsync("ping");
        var broken = await c.SendRawAsync("{\"op\":");
        var brokenAfterId = await c.SendRawAsync("{\"id\":\"known\",\"op\":\"ping\",", "known");

        Assert.Equal("ERR_TOO_MANY_REQUESTS", ping.ErrorCode());
        Assert.Equal("ERR_TOO_MANY_REQUESTS", broken.ErrorCode());
        Assert.Equal(JsonValueKind.Null, broken.GetProperty("id").ValueKind);
        Assert.Equal("ERR_TOO_MANY_REQUESTS", brokenAfterId.ErrorCode());
        Assert.Equal("known", brokenAfterId.Str("id"));
    }

    [Fact]
    public async Task Rest_calls_are_limited_per_user_with_429_and_a_json_error()
    {
        fixture.RefillBuckets();
        var users = await fixture.Admin.UsersAsync(2);

        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < 6; i++)
        {
            using var response = await GetCallAsync(users[0].Token);
            statuses.Add(response.StatusCode);
            if (response.StatusCode == HttpStatusCode.TooManyRequests)
            {
                Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
                Assert.Equal("ERR_TOO_MANY_REQUESTS", await Upgrade.ErrorCodeAsync(response));
            }
        }

        using var otherUser = await GetCallAsync(users[1].Token);
        using var upgrade = await Upgrade.SendAsync(fixture.Admin.Http, users[0].Token);
        fixture.Clock.Advance(TimeSpan.FromSeconds(1));
        using var later = await GetCallAsync(users[0].Token);

        Assert.Equal([.. Enumerable.Repeat(HttpStatusCode.NotFound, 5), HttpStatusCode.TooManyRequests], statuses);
        Assert.Equal(HttpStatusCode.NotFound, otherUser.StatusCode);
        Assert.Equal(HttpStatusCode.TooManyRequests, upgrade.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, later.StatusCode);
    }

    [Fact]
    public async Task Unauthenticated_and_admin_calls_are_limited_per_address_and_probes_never()
    {
        fixture.RefillBuckets();

        var anonymous = new List<HttpStatusCode>();
        for (var i = 0; i < 6; i++)
        {
            using var response = await fixture.Admin.SendAsync(HttpMethod.Get, "/v1/users/nobody", apiKey: null);
            anonymous.Add(response.StatusCode);
        }

        var admin = new List<HttpStatusCode>();
        for (var i = 0; i < 41; i++)
        {
            using var response = await fixture.Admin.SendAsync(HttpMethod.Get, "/v1/users/nobody");
            admin.Add(response.StatusCode);
        }

        var probes = new List<HttpStatusCode>();
        foreach (var path in Enumerable.Repeat(new[] { "/healthz", "/metrics" }, 20).SelectMany(p => p))
        {
            using var response = await fixture.Admin.Http.GetAsync(path);
            probes.Add(response.StatusCode);
        }

        Assert.Equal([.. Enumerable.Repeat(HttpStatusCode.Unauthorized, 5), HttpStatusCode.TooManyRequests], anonymous);
        Assert.Equal([.. Enumerable.Repeat(HttpStatusCode.NotFound, 40), HttpStatusCode.TooManyRequests], admin);
        Assert.All(probes, s => Assert.Equal(HttpStatusCode.OK, s));
    }

    private static async Task<JsonElement[]> PingsAsync(WsClient c, int count)
    {
        var responses = new JsonElement[count];
        for (var i = 0; i < count; i++)
        {
            responses[i] = await c.RequestAsync("ping");
        }

        return responses;
    }

    private Task<HttpResponseMessage> GetCallAsync(string token) =>
        fixture.Admin.SendAsync(HttpMethod.Get, $"/v1/calls/{Guid.NewGuid():N}", apiKey: null, bearer: token);

    private async Task<WsClient> OneAsync()
    {
        fixture.RefillBuckets();
        var (uid, token) = (await fixture.Admin.UsersAsync(1))[0];
        return await WsClient.ConnectAsync(fixture.Node, uid, token);
    }
}

/// <summary>Sockets do not outlive their auth token, and only the allowed browser origins may open one.</summary>
[Collection(FakeClockGroup.Name)]
public sealed class TokenExpiryAndOriginTests(FakeClockNode fixture)
{
    [Fact]
    public async Task A_socket_is_closed_with_4001_when_its_token_expires_and_others_stay_open()
    {
        fixture.RefillBuckets();
        var (early, earlyToken) = (await fixture.Admin.UsersAsync(1, "early"))[0];
        await using var expiring = await WsClient.ConnectAsync(fixture.Node, early, earlyToken);
        fixture.Clock.Advance(TimeSpan.FromMinutes(6));
        var (late, lateToken) = (await fixture.Admin.UsersAsync(1, "late"))[0];
        await using var valid = await WsClient.ConnectAsync(fixture.Node, late, lateToken);

        // Tokens live 10 minutes: the first has expired now, the second has 4 minutes left.
        fixture.Clock.Advance(TimeSpan.FromMinutes(5));

        Assert.Equal((System.Net.WebSockets.WebSocketCloseStatus)4001, await expiring.WaitClosedAsync());
        Assert.True((await valid.RequestAsync("ping")).IsOk());
    }

    [Fact]
    public async Task A_browser_from_another_origin_is_refused_with_403_before_the_upgrade()
    {
        fixture.RefillBuckets();
        var (uid, token) = (await fixture.Admin.UsersAsync(1))[0];

        using var refused = await Upgrade.SendAsync(fixture.Admin.Http, token, origin: "https://elsewhere.example.org");
        await using var browser = await WsClient.ConnectWithAsync(fixture.Node.BaseUri, uid, token, origin: FakeClockNode.AllowedOrigin, tokenInQuery: true);
        await using var native = await WsClient.ConnectAsync(fixture.Node, uid, token);

        Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
        Assert.Equal("ERR_PERMISSION_DENIED", await Upgrade.ErrorCodeAsync(refused));
        Assert.Equal(uid, browser.Welcome.Str("uid"));
        Assert.Equal(uid, native.Welcome.Str("uid"));
    }
}
