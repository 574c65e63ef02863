using System.Net;
using System.Net.WebSockets;
using System.Text.Json;
using CallGrains.Client.Protocol;
using CallGrains.Gateway.Auth;
using Microsoft.Extensions.Options;

namespace CallGrains.Gateway.Tests;

[Collection(TwoNodeGroup.Name)]
public sealed class AuthTests(TwoNodeFixture cluster)
{
    [Fact]
    public async Task No_token_is_refused_before_the_upgrade_with_401_and_a_json_error()
    {
        using var response = await UpgradeAsync(token: null);

        await AssertNotLoggedInAsync(response);
    }

    [Theory]
    [InlineData("not-a-token")]
    [InlineData("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl")]
    public async Task A_bad_token_is_refused(string token)
    {
        using var response = await UpgradeAsync(token);

        await AssertNotLoggedInAsync(response);
    }

    [Fact]
    public async Task A_token_signed_with_another_key_is_refused()
    {
        var (uid, _) = (await cluster.Admin.UsersAsync(1))[0];
        var forger = new Tokens(Options.Create(new AuthOptions { AdminKey = "some-other-admin-key-000000000" }), TimeProvider.System);

        using var response = await UpgradeAsync(forger.IssueAuthToken(uid, 0).Token);

        await AssertNotLoggedInAsync(response);
    }

    [Fact]
    public async Task An_expired_token_is_refused()
    {
        var (uid, _) = (await cluster.Admin.UsersAsync(1))[0];
        var past = new Tokens(Options.Create(new AuthOptions { AdminKey = GatewayNode.AdminKey }), new FixedTime(DateTimeOffset.UtcNow.AddDays(-2)));

        using var response = await UpgradeAsync(past.IssueAuthToken(uid, 0).Token);

        await AssertNotLoggedInAsync(response);
    }

    [Fact]
    public async Task A_token_in_the_query_string_works_for_browsers()
    {
        var (uid, token) = (await cluster.Admin.UsersAsync(1))[0];
        await using var connection = await ProtocolConnection.OpenAsync(new() { Server = cluster.A.BaseUri, Token = token, TokenInQuery = true, DeviceId = "browser-1" });

        var welcome = (await connection.ReceiveAsync())!.Json;
        Assert.Equal("welcome", welcome.Str("event"));
        Assert.Equal(uid, welcome.Str("uid"));
        Assert.Equal("browser-1", welcome.Str("deviceId"));
    }

    [Fact]
    public async Task Revoking_closes_open_sockets_with_4001_and_refuses_the_old_token()
    {
        var (uid, token) = (await cluster.Admin.UsersAsync(1))[0];
        await using var onA = await WsClient.ConnectAsync(cluster.A, uid, token, "a");
        await using var onB = await WsClient.ConnectAsync(cluster.B, uid, token, "b");

        using var revoked = await cluster.Admin.SendAsync(HttpMethod.Delete, $"/v1/users/{uid}/tokens");

        Assert.Equal(HttpStatusCode.NoContent, revoked.StatusCode);
        Assert.Equal((WebSocketCloseStatus)4001, await onA.WaitClosedAsync());
        Assert.Equal((WebSocketCloseStatus)4001, await onB.WaitClosedAsync());
        using var refused = await UpgradeAsync(token);
        await AssertNotLoggedInAsync(refused);
        using var rest = await cluster.Admin.SendAsync(HttpMethod.Get, "/v1/calls/abc", apiKey: null, bearer: token);
        Assert.Equal(HttpStatusCode.Unauthorized, rest.StatusCode);
        await using var fresh = await WsClient.ConnectAsync(cluster.A, uid, await cluster.Admin.TokenAsync(uid));
        Assert.Equal(uid, fresh.Welcome.Str("uid"));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("wrong-key")]
    public async Task Admin_calls_need_the_admin_key(string? key)
    {
        using var create = await cluster.Admin.SendAsync(HttpMethod.Post, "/v1/users", new { uid = $"x{Guid.NewGuid():N}", name = "X" }, apiKey: key);
        using var token = await cluster.Admin.SendAsync(HttpMethod.Post, "/v1/users/someone/tokens", apiKey: key);
        using var revoke = await cluster.Admin.SendAsync(HttpMethod.Delete, "/v1/users/someone/tokens", apiKey: key);

        foreach (var response in new[] { create, token, revoke })
        {
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
            using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
            Assert.Equal("ERR_PERMISSION_DENIED", body.RootElement.GetProperty("error").Str("code"));
        }
    }

    [Fact]
    public async Task A_device_beyond_the_cap_is_refused_with_429()
    {
        var (uid, token) = (await cluster.Admin.UsersAsync(1))[0];
        var devices = new List<WsClient>();
        try
        {
            for (var i = 0; i < 10; i++)
            {
                devices.Add(await WsClient.ConnectAsync(cluster.A, uid, token, $"d{i}"));
            }

            using var refused = await UpgradeAsync(token, "d10");
            Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
        }
        finally
        {
            foreach (var device in devices)
            {
                await device.DisposeAsync();
            }
        }
    }

    private Task<HttpResponseMessage> UpgradeAsync(string? token, string? deviceId = null) =>
        Upgrade.SendAsync(cluster.Admin.Http, token, deviceId is null ? null : $"deviceId={deviceId}");

    private static async Task AssertNotLoggedInAsync(HttpResponseMessage response)
    {
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal("ERR_USER_NOT_LOGGED_IN", body.RootElement.GetProperty("error").Str("code"));
    }

    private sealed class FixedTime(DateTimeOffset now) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => now;
    }
}
