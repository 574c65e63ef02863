using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using CallGrains.Host;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace CallGrains.Gateway.Tests;

/// <summary>
/// A node with two TURN servers configured (<c>Turn:*</c>), its gateway on a clock the tests move, credentials valid
/// an hour, 5 HTTP requests at once per user then 1/s.
/// </summary>
public sealed class TurnNode : NodeFixture
{
    public const string Secret = "turn-node-secret-0123456789abcdef";
    public const int TtlSeconds = 3600;
    public static readonly string[] Urls = ["turn:127.0.0.1:3478?transport=udp", "turns:turn.example.com:5349?transport=tcp", "turn:[::1]"];

    public FakeTimeProvider Clock { get; } = new(DateTimeOffset.UtcNow);

    protected override Task<GatewayNode> StartAsync() =>
        GatewayNode.StartWithAsync(
            builder => builder.Services.AddKeyedSingleton<TimeProvider>(GatewayHosting.ClockKey, Clock),
            $"--Turn:Urls={string.Join(" , ", Urls)}",
            $"--Turn:Secret={Secret}",
            $"--Turn:TtlSeconds={TtlSeconds}",
            "--Gateway:RestRequestsPerSecond=1",
            "--Gateway:RestBurst=5");
}

/// <summary><c>GET /v1/turn</c> (PROTOCOL section 12) as an app sees it: TURN REST credentials a TURN server can check.</summary>
public sealed class TurnApiTests(TurnNode node) : IClassFixture<TurnNode>
{
    [Fact]
    public async Task A_user_gets_the_configured_servers_with_a_credential_the_TURN_server_can_recompute()
    {
        var (uid, token) = (await node.Admin.UsersAsync(1, "turn"))[0];

        using var response = await node.Admin.SendAsync(HttpMethod.Get, "/v1/turn", apiKey: null, bearer: token);
        var now = node.Clock.GetUtcNow().ToUnixTimeSeconds();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.True(response.Headers.CacheControl?.NoStore, "a credential must not be cached");
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal(TurnNode.TtlSeconds, body.RootElement.GetProperty("ttl").GetInt32());
        var server = Assert.Single(body.RootElement.GetProperty("iceServers").EnumerateArray());
        Assert.Equal(TurnNode.Urls, server.GetProperty("urls").EnumerateArray().Select(u => u.GetString()));
        var username = server.Str("username");
        Assert.Equal($"{now + TurnNode.TtlSeconds}:{uid}", username);
        Assert.Equal(Credential(TurnNode.Secret, username), server.Str("credential"));
        Assert.Equal(["credential", "urls", "username"], server.EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task Each_ask_gets_a_credential_that_expires_ttl_after_it()
    {
        var (uid, token) = (await node.Admin.UsersAsync(1, "turnlater"))[0];
        var first = await UsernameAsync(token);

        node.Clock.Advance(TimeSpan.FromMinutes(10));
        var later = await UsernameAsync(token);

        Assert.Equal($"{node.Clock.GetUtcNow().ToUnixTimeSeconds() + TurnNode.TtlSeconds}:{uid}", later);
        Assert.Equal(600, Expiry(later) - Expiry(first));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("not-a-token")]
    public async Task Without_a_valid_token_it_is_401_with_no_credential(string? bearer)
    {
        using var response = await node.Admin.SendAsync(HttpMethod.Get, "/v1/turn", apiKey: null, bearer: bearer);

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("ERR_USER_NOT_LOGGED_IN", await Answers.ErrorCodeOf(response));
    }

    [Fact]
    public async Task A_revoked_token_gets_no_credential()
    {
        var (uid, token) = (await node.Admin.UsersAsync(1, "turnrevoked"))[0];
        using (var revoked = await node.Admin.SendAsync(HttpMethod.Delete, $"/v1/users/{uid}/tokens"))
        {
            Assert.Equal(HttpStatusCode.NoContent, revoked.StatusCode);
        }

        using var response = await node.Admin.SendAsync(HttpMethod.Get, "/v1/turn", apiKey: null, bearer: token);

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.DoesNotContain("credential", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task It_counts_against_the_users_rest_rate_limit()
    {
        var (_, token) = (await node.Admin.UsersAsync(1, "turnlimit"))[0];
        node.Clock.Advance(TimeSpan.FromMinutes(1));

        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < 6; i++)
        {
            using var response = await node.Admin.SendAsync(HttpMethod.Get, "/v1/turn", apiKey: null, bearer: token);
            statuses.Add(response.StatusCode);
        }

        Assert.Equal([.. Enumerable.Repeat(HttpStatusCode.OK, 5), HttpStatusCode.TooManyRequests], statuses);
    }

    /// <summary>The TURN REST credential, computed here the way coturn's <c>use-auth-secret</c> does.</summary>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Security", "CA5350", Justification = "The TURN REST scheme is HMAC-SHA1.")]
    public static string Credential(string secret, string username) =>
        Convert.ToBase64String(HMACSHA1.HashData(Encoding.UTF8.GetBytes(secret), Encoding.UTF8.GetBytes(username)));

    private static long Expiry(string username) => long.Parse(username[..username.IndexOf(':', StringComparison.Ordinal)], CultureInfo.InvariantCulture);

    private async Task<string> UsernameAsync(string token)
    {
        using var response = await node.Admin.SendAsync(HttpMethod.Get, "/v1/turn", apiKey: null, bearer: token);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return body.RootElement.GetProperty("iceServers")[0].Str("username");
    }
}

/// <summary>A node without <c>Turn:Urls</c> answers no servers, still only to a signed-in user.</summary>
[Collection(TwoNodeGroup.Name)]
public sealed class TurnUnconfiguredTests(TwoNodeFixture cluster)
{
    [Fact]
    public async Task Without_Turn_Urls_a_user_gets_no_servers_and_ttl_0()
    {
        var (_, token) = (await cluster.Admin.UsersAsync(1, "noturn"))[0];

        using var response = await cluster.Admin.SendAsync(HttpMethod.Get, "/v1/turn", apiKey: null, bearer: token);
        using var anonymous = await cluster.Admin.SendAsync(HttpMethod.Get, "/v1/turn", apiKey: null);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("""{"iceServers":[],"ttl":0}""", await response.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
    }
}

/// <summary>Bad <c>Turn:*</c> settings stop the node at start with a message naming the setting, never the secret.</summary>
public sealed class TurnConfigurationTests
{
    private const string GoodSecret = "turn-config-secret-0123456789";

    [Theory]
    [InlineData("--Turn:Urls=turn:turn.example.com:3478", null, "Turn:Secret is required")]
    [InlineData("--Turn:Urls=turn:turn.example.com:3478", "--Turn:Secret=short-secret-15", "Turn:Secret must be at least 16 characters")]
    [InlineData("--Turn:Urls=stun:stun.example.com:3478", $"--Turn:Secret={GoodSecret}", "Turn:Urls entry 'stun:stun.example.com:3478' is not a TURN URI")]
    [InlineData("--Turn:Urls=turn:a.example.com,https://b.example.com", $"--Turn:Secret={GoodSecret}", "Turn:Urls entry 'https://b.example.com' is not a TURN URI")]
    [InlineData("--Turn:Urls=turn:turn.example.com:70000", $"--Turn:Secret={GoodSecret}", "is not a TURN URI")]
    [InlineData("--Turn:Urls=turn:turn.example.com?transport=sctp", $"--Turn:Secret={GoodSecret}", "is not a TURN URI")]
    [InlineData("--Turn:TtlSeconds=59", null, "Turn:TtlSeconds must be between 60 and 604800")]
    [InlineData("--Turn:TtlSeconds=604801", $"--Turn:Secret={GoodSecret}", "Turn:TtlSeconds must be between 60 and 604800")]
    public async Task A_bad_setting_stops_the_node_at_start_and_says_which(string setting, string? secret, string expected)
    {
        string[] settings = secret is null ? [setting] : [setting, secret];
        var app = CallGrainsApp.Build(
        [
            "--environment=Production", $"--Auth:AdminKey={GatewayNode.AdminKey}", $"--urls=http://127.0.0.1:{GatewayNode.FreePort()}",
            $"--Orleans:SiloPort={GatewayNode.FreePort()}", $"--Orleans:GatewayPort={GatewayNode.FreePort()}", "--Logging:LogLevel:Default=Warning",
            .. settings,
        ]);

        var error = await Record.ExceptionAsync(() => app.StartAsync());
        if (error is null)
        {
            await app.StopAsync();
        }

        await app.DisposeAsync();

        Assert.NotNull(error);
        var line = StartupChecks.Explain(error);
        Assert.NotNull(line);
        Assert.Contains(expected, line, StringComparison.Ordinal);
        Assert.DoesNotContain("short-secret-15", error.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain(GoodSecret, error.ToString(), StringComparison.Ordinal);
    }
}
