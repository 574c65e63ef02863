using System.Net;
using System.Text.Json;
using CallGrains.Gateway.Auth;

namespace CallGrains.Gateway.Tests;

[Collection(TwoNodeGroup.Name)]
public sealed class RestTests(TwoNodeFixture cluster)
{
    [Fact]
    public async Task Users_are_created_once_and_read_back()
    {
        var uid = $"rest-{Guid.NewGuid():N}";

        using var created = await cluster.Admin.SendAsync(HttpMethod.Post, "/v1/users", new { uid, name = "Grace" });
        using var again = await cluster.Admin.SendAsync(HttpMethod.Post, "/v1/users", new { uid, name = "Grace" });
        using var read = await cluster.Admin.SendAsync(HttpMethod.Get, $"/v1/users/{uid}");
        using var missing = await cluster.Admin.SendAsync(HttpMethod.Get, $"/v1/users/nobody-{Guid.NewGuid():N}");

        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        Assert.Equal(HttpStatusCode.Conflict, again.StatusCode);
        Assert.Equal(HttpStatusCode.OK, read.StatusCode);
        using var body = JsonDocument.Parse(await read.Content.ReadAsStringAsync());
        Assert.Equal("Grace", body.RootElement.Str("name"));
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        Assert.Equal("ERR_UID_NOT_FOUND", await Answers.ErrorCodeOf(missing));
    }

    [Theory]
    [InlineData("{\"uid\":\"has space\",\"name\":\"x\"}")]
    [InlineData("{\"uid\":\"ok\",\"name\":\"\"}")]
    [InlineData("{\"uid\":5,\"name\":\"x\"}")]
    [InlineData("not json")]
    public async Task Bad_user_bodies_are_400(string body)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/users") { Content = new StringContent(body, System.Text.Encoding.UTF8, "application/json") };
        request.Headers.Add("X-Api-Key", GatewayNode.AdminKey);

        using var response = await cluster.Admin.Http.SendAsync(request);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("ERR_BAD_REQUEST", await Answers.ErrorCodeOf(response));
    }

    [Fact]
    public async Task Tokens_for_unknown_users_are_404()
    {
        using var issue = await cluster.Admin.SendAsync(HttpMethod.Post, $"/v1/users/nobody-{Guid.NewGuid():N}/tokens");
        using var revoke = await cluster.Admin.SendAsync(HttpMethod.Delete, $"/v1/users/nobody-{Guid.NewGuid():N}/tokens");

        Assert.Equal(HttpStatusCode.NotFound, issue.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, revoke.StatusCode);
    }

    [Fact]
    public async Task A_party_reads_their_call_and_gets_a_call_token_over_rest()
    {
        var users = await cluster.Admin.UsersAsync(3);
        await using var a = await WsClient.ConnectAsync(cluster.A, users[0].Uid, users[0].Token);
        var call = await a.CallAsync(users[1].Uid);
        var sessionId = call.SessionId();

        using var mine = await cluster.Admin.SendAsync(HttpMethod.Get, $"/v1/calls/{sessionId}", apiKey: null, bearer: users[1].Token);
        using var theirs = await cluster.Admin.SendAsync(HttpMethod.Get, $"/v1/calls/{sessionId}", apiKey: null, bearer: users[2].Token);
        using var none = await cluster.Admin.SendAsync(HttpMethod.Get, $"/v1/calls/{Guid.NewGuid():N}", apiKey: null, bearer: users[1].Token);
        using var invalid = await cluster.Admin.SendAsync(HttpMethod.Get, "/v1/calls/bad%20id", apiKey: null, bearer: users[1].Token);
        using var anonymous = await cluster.Admin.SendAsync(HttpMethod.Get, $"/v1/calls/{sessionId}", apiKey: null);
        using var token = await cluster.Admin.SendAsync(HttpMethod.Post, $"/v1/calls/{sessionId}/token", apiKey: null, bearer: users[0].Token);

        Assert.Equal(HttpStatusCode.OK, mine.StatusCode);
        using (var body = JsonDocument.Parse(await mine.Content.ReadAsStringAsync()))
        {
            Assert.Equal(sessionId, body.RootElement.GetProperty("call").Str("sessionId"));
            Assert.Equal("initiated", body.RootElement.GetProperty("call").Str("status"));
        }

        Assert.Equal(HttpStatusCode.Forbidden, theirs.StatusCode);
        Assert.Equal("ERR_PERMISSION_DENIED", await Answers.ErrorCodeOf(theirs));
        Assert.Equal(HttpStatusCode.NotFound, none.StatusCode);
        Assert.Equal("ERR_CALL_NOT_FOUND", await Answers.ErrorCodeOf(none));
        Assert.Equal(HttpStatusCode.BadRequest, invalid.StatusCode);
        Assert.Equal("ERR_INVALID_SESSION_ID", await Answers.ErrorCodeOf(invalid));
        Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        Assert.Equal(HttpStatusCode.OK, token.StatusCode);
        using var tokenBody = JsonDocument.Parse(await token.Content.ReadAsStringAsync());
        Assert.Equal(3, tokenBody.RootElement.Str("token").Split('.').Length);
    }

    [Fact]
    public async Task Health_and_metrics_are_served()
    {
        var users = await cluster.Admin.UsersAsync(2);
        await using var a = await WsClient.ConnectAsync(cluster.A, users[0].Uid, users[0].Token);
        var call = await a.CallAsync(users[1].Uid);
        await a.RequestAsync("rejectCall", new { sessionId = call.SessionId(), status = "cancelled" });

        using var health = await cluster.Admin.Http.GetAsync("/healthz");
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
        Assert.Equal("Healthy", await health.Content.ReadAsStringAsync());

        // The Prometheus exporter caches a scrape briefly; poll until our numbers are in.
        var deadline = DateTime.UtcNow.AddSeconds(15);
        string text;
        do
        {
            await Task.Delay(200);
            text = await cluster.Admin.Http.GetStringAsync("/metrics");
        }
        while (!(text.Contains("callgrains_calls_settled_total", StringComparison.Ordinal)
            && text.Contains("callgrains_calls_archived_total", StringComparison.Ordinal)
            && text.Contains("callgrains_call_setup_duration_seconds_bucket", StringComparison.Ordinal)) && DateTime.UtcNow < deadline);

        Assert.Contains("callgrains_gateway_connections", text, StringComparison.Ordinal);
        Assert.Contains("callgrains_calls_settled_total{otel_scope_name=\"CallGrains\",status=\"cancelled\"}", text, StringComparison.Ordinal);
        Assert.Contains("callgrains_call_setup_duration_seconds_bucket", text, StringComparison.Ordinal);
        Assert.Contains("callgrains_calls_archived_total", text, StringComparison.Ordinal);
        Assert.Contains("orleans_", text, StringComparison.Ordinal);
    }

}

public sealed class HostConfigurationTests
{
    [Fact]
    public async Task Outside_development_the_admin_key_is_required()
    {
        var app = CallGrains.Host.CallGrainsApp.Build(["--environment=Production", $"--urls=http://127.0.0.1:{GatewayNode.FreePort()}", $"--Orleans:SiloPort={GatewayNode.FreePort()}", $"--Orleans:GatewayPort={GatewayNode.FreePort()}"]);

        var error = await Assert.ThrowsAnyAsync<Exception>(() => app.StartAsync());

        Assert.Contains("Auth:AdminKey is required", error.ToString(), StringComparison.Ordinal);
        await app.DisposeAsync();
    }

    [Fact]
    public async Task In_development_an_admin_key_is_generated()
    {
        var http = GatewayNode.FreePort();
        var app = CallGrains.Host.CallGrainsApp.Build(["--environment=Development", $"--urls=http://127.0.0.1:{http}", $"--Orleans:SiloPort={GatewayNode.FreePort()}", $"--Orleans:GatewayPort={GatewayNode.FreePort()}", "--Logging:LogLevel:Default=Warning"]);
        await app.StartAsync();
        try
        {
            // The key a person would copy: the one the host printed (the monitor's and IOptions' must agree).
            var monitor = ((Microsoft.Extensions.Options.IOptionsMonitor<AuthOptions>)app.Services.GetService(typeof(Microsoft.Extensions.Options.IOptionsMonitor<AuthOptions>))!).CurrentValue.AdminKey;
            var key = ((Microsoft.Extensions.Options.IOptions<AuthOptions>)app.Services.GetService(typeof(Microsoft.Extensions.Options.IOptions<AuthOptions>))!).Value.AdminKey;
            Assert.Equal(monitor, key);
            Assert.False(string.IsNullOrEmpty(key));
            using var admin = new Admin(new Uri($"http://127.0.0.1:{http}"));
            using var response = await admin.SendAsync(HttpMethod.Post, "/v1/users", new { uid = "dev", name = "Dev" }, apiKey: key);
            Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        }
        finally
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }
    }
}
