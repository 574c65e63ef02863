using System.Buffers.Text;
using System.Net;
using System.Net.WebSockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using CallGrains.Gateway.Auth;
using Microsoft.Extensions.Options;

namespace CallGrains.Gateway.Tests;

/// <summary>Forwarded addresses, readiness under a flood, token keys in rotation and the token as a subprotocol, on one node.</summary>
[Collection(SecurityGroup.Name)]
public sealed class SecurityNodeTests(SecurityNode fixture)
{
    [Fact]
    public async Task Behind_a_known_proxy_each_client_address_has_its_own_bucket()
    {
        fixture.RefillBuckets();

        var first = new List<HttpStatusCode>();
        for (var i = 0; i < 6; i++)
        {
            first.Add(await AnonymousFromAsync("203.0.113.1"));
        }

        var second = await AnonymousFromAsync("203.0.113.2");

        Assert.Equal([.. Enumerable.Repeat(HttpStatusCode.Unauthorized, 5), HttpStatusCode.TooManyRequests], first);
        Assert.Equal(HttpStatusCode.Unauthorized, second);
    }

    [Fact]
    public async Task A_flood_of_readiness_probes_runs_the_checks_at_most_once_a_second()
    {
        fixture.Clock.Advance(TimeSpan.FromSeconds(2));
        var before = fixture.Check.Runs;

        var flood = await ProbesAsync(50);
        var afterFlood = fixture.Check.Runs;
        fixture.Clock.Advance(TimeSpan.FromSeconds(1));
        var next = await ProbesAsync(20);

        Assert.All(flood.Concat(next), s => Assert.Equal(HttpStatusCode.OK, s));
        Assert.Equal(before + 1, afterFlood);
        Assert.Equal(before + 2, fixture.Check.Runs);
    }

    [Fact]
    public async Task A_token_signed_with_an_older_listed_key_still_connects_and_new_tokens_name_the_newest_key()
    {
        fixture.RefillBuckets();
        var (uid, issued) = (await fixture.Admin.UsersAsync(1))[0];
        var old = Issuer(new SigningKey { Id = "k1", Key = SecurityNode.OldKey });

        await using var client = await WsClient.ConnectAsync(fixture.Node, uid, old.IssueAuthToken(uid, 0).Token);

        Assert.Equal(uid, client.Welcome.Str("uid"));
        using var header = Header(issued);
        Assert.Equal("k2", header.RootElement.Str("kid"));
        Assert.Equal("HS256", header.RootElement.Str("alg"));
    }

    [Theory]
    [InlineData("{\"alg\":\"none\",\"typ\":\"at+jwt\",\"kid\":\"k2\"}", "none")]
    [InlineData("{\"alg\":\"HS512\",\"typ\":\"at+jwt\",\"kid\":\"k2\"}", "HS512")]
    [InlineData("{\"alg\":\"HS256\",\"typ\":\"at+jwt\",\"kid\":\"k9\"}", "HS256")]
    [InlineData("{\"alg\":\"HS256\",\"typ\":\"at+jwt\",\"kid\":\"k1\"}", "HS256")]
    [InlineData("{\"alg\":\"HS256\",\"typ\":\"at+jwt\",\"kid\":\"k2\",\"jku\":\"https://evil.example\"}", "HS256")]
    [InlineData("{\"alg\":\"HS256\",\"typ\":\"call+jwt\",\"kid\":\"k2\"}", "HS256")]
    public async Task A_token_with_a_forged_header_is_refused(string header, string alg)
    {
        fixture.RefillBuckets();
        var (uid, _) = (await fixture.Admin.UsersAsync(1))[0];
        var payload = $"{{\"sub\":\"{uid}\",\"gen\":0,\"exp\":{DateTimeOffset.UtcNow.AddHours(1).ToUnixTimeSeconds()}}}";

        // Signed with the newest key (k2) whatever the header says: only the header is forged.
        using var response = await Upgrade.SendAsync(fixture.Admin.Http, Forge(header, payload, SecurityNode.NewKey, alg));

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
    }

    [Fact]
    public async Task The_same_claims_under_the_header_the_server_writes_connect()
    {
        fixture.RefillBuckets();
        var (uid, _) = (await fixture.Admin.UsersAsync(1))[0];
        var payload = $"{{\"sub\":\"{uid}\",\"gen\":0,\"exp\":{DateTimeOffset.UtcNow.AddHours(1).ToUnixTimeSeconds()}}}";

        await using var client = await WsClient.ConnectAsync(fixture.Node, uid, Forge("{\"alg\":\"HS256\",\"typ\":\"at+jwt\",\"kid\":\"k2\"}", payload, SecurityNode.NewKey, "HS256"));

        Assert.Equal(uid, client.Welcome.Str("uid"));
    }

    [Fact]
    public async Task A_browser_may_offer_its_token_as_a_subprotocol_and_the_server_never_echoes_it()
    {
        fixture.RefillBuckets();
        var (uid, token) = (await fixture.Admin.UsersAsync(1))[0];
        using var socket = new ClientWebSocket();
        socket.Options.AddSubProtocol(Tokens.SubProtocol);
        socket.Options.AddSubProtocol(Tokens.AuthSubProtocolPrefix + token);
        socket.Options.CollectHttpResponseDetails = true;

        await socket.ConnectAsync(new Uri($"ws://127.0.0.1:{fixture.Node.HttpPort}/v1/ws"), CancellationToken.None);

        Assert.Equal("callgrains.v1", socket.SubProtocol);
        Assert.DoesNotContain(socket.HttpResponseHeaders!.SelectMany(h => h.Value), v => v.Contains(token, StringComparison.Ordinal));
        var buffer = new byte[16 * 1024];
        var received = await socket.ReceiveAsync(buffer, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(15));
        using var welcome = JsonDocument.Parse(buffer.AsMemory(0, received.Count));
        Assert.Equal("welcome", welcome.RootElement.Str("event"));
        Assert.Equal(uid, welcome.RootElement.Str("uid"));
        await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "bye", CancellationToken.None);
    }

    [Fact]
    public async Task A_bad_token_offered_as_a_subprotocol_is_refused_with_401_before_the_upgrade()
    {
        fixture.RefillBuckets();
        using var response = await Upgrade.SendAsync(fixture.Admin.Http, token: null, subprotocols: "callgrains.v1, callgrains.auth.eyJhbGciOiJIUzI1NiJ9.e30.c2ln");

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("ERR_USER_NOT_LOGGED_IN", await Upgrade.ErrorCodeAsync(response));
    }

    private static Tokens Issuer(params SigningKey[] keys) =>
        new(Options.Create(new AuthOptions { AdminKey = Admin.DefaultKey, TokenKeys = keys }), TimeProvider.System);

    private static JsonDocument Header(string token) => JsonDocument.Parse(Base64Url.DecodeFromChars(token.AsSpan(0, token.IndexOf('.', StringComparison.Ordinal))));

    /// <summary>A JWT with the header and payload given, signed with <paramref name="key"/> by <paramref name="alg"/> (none: no signature).</summary>
    internal static string Forge(string header, string payload, string key, string alg)
    {
        var input = $"{Base64Url.EncodeToString(Encoding.UTF8.GetBytes(header))}.{Base64Url.EncodeToString(Encoding.UTF8.GetBytes(payload))}";
        var bytes = Encoding.UTF8.GetBytes(input);
        var signature = alg switch
        {
            "none" => [],
            "HS512" => HMACSHA512.HashData(Encoding.UTF8.GetBytes(key), bytes),
            _ => HMACSHA256.HashData(Encoding.UTF8.GetBytes(key), bytes),
        };
        return $"{input}.{Base64Url.EncodeToString(signature)}";
    }

    private async Task<HttpStatusCode> AnonymousFromAsync(string client)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/v1/users/nobody");
        request.Headers.Add("X-Forwarded-For", client);
        using var response = await fixture.Admin.Http.SendAsync(request);
        return response.StatusCode;
    }

    private async Task<List<HttpStatusCode>> ProbesAsync(int count)
    {
        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < count; i++)
        {
            using var response = await fixture.Admin.Http.GetAsync(new Uri("/healthz", UriKind.Relative));
            statuses.Add(response.StatusCode);
        }

        return statuses;
    }
}
