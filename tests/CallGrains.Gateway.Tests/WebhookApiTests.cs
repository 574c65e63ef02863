using System.Net;
using System.Text;
using System.Text.Json;
using CallGrains.Abstractions;
using Microsoft.Extensions.DependencyInjection;

namespace CallGrains.Gateway.Tests;

/// <summary>
/// One node with a management port, http endpoints allowed (the tests' receivers are on loopback) and a cap of three
/// endpoints, for <see cref="WebhookApiTests"/>. The registry is one per cluster, so the tests of that class (which
/// xunit runs one after another) start from no endpoints.
/// </summary>
public sealed class WebhookNodeFixture : IAsyncLifetime
{
    public const int MaxEndpoints = 3;

    public GatewayNode Node { get; private set; } = null!;

    /// <summary>The admin API on the management port.</summary>
    public Admin Admin { get; private set; } = null!;

    /// <summary>The public port, with the admin key.</summary>
    public Admin Public { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        var management = GatewayNode.FreePort();
        Node = await GatewayNode.StartAsync(null, null, $"--Gateway:ManagementPort={management}", "--Webhooks:AllowHttp=true", $"--Webhooks:MaxEndpoints={MaxEndpoints}");
        Admin = new Admin(new Uri($"http://127.0.0.1:{management}"));
        Public = new Admin(Node.BaseUri);
    }

    public async Task DisposeAsync()
    {
        Admin.Dispose();
        Public.Dispose();
        await Node.DisposeAsync();
    }
}

/// <summary>PROTOCOL sections 8 and 11: webhook endpoints and their deliveries through the admin API, as an operator uses them.</summary>
public sealed class WebhookApiTests(WebhookNodeFixture node) : IClassFixture<WebhookNodeFixture>, IAsyncLifetime
{
    public async Task InitializeAsync()
    {
        using var listed = await node.Admin.SendAsync(HttpMethod.Get, "/v1/webhooks");
        foreach (var id in Ids(await Json(listed)))
        {
            using var deleted = await node.Admin.SendAsync(HttpMethod.Delete, $"/v1/webhooks/{id}");
        }
    }

    public Task DisposeAsync() => Task.CompletedTask;

    [Fact]
    public async Task An_endpoint_is_created_with_its_secret_shown_once_then_read_listed_and_deleted()
    {
        var before = DateTimeOffset.UtcNow.AddMinutes(-1).ToUnixTimeSeconds();
        using var created = await node.Admin.SendAsync(HttpMethod.Post, "/v1/webhooks", new { url = "https://hooks.example.com/callgrains", events = new[] { "call.ended", "call.initiated" } });

        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var endpoint = await Json(created);
        var id = endpoint.Str("id");
        Assert.StartsWith("wh_", id, StringComparison.Ordinal);
        Assert.StartsWith("whsec_", endpoint.Str("secret"), StringComparison.Ordinal);
        Assert.True(Convert.FromBase64String(endpoint.Str("secret")["whsec_".Length..]).Length >= 24);
        Assert.Equal(("https://hooks.example.com/callgrains", "call.ended,call.initiated"), (endpoint.Str("url"), Events(endpoint)));
        Assert.InRange(endpoint.GetProperty("createdAt").GetDouble(), before, DateTimeOffset.UtcNow.AddMinutes(1).ToUnixTimeSeconds());

        using var read = await node.Admin.SendAsync(HttpMethod.Get, $"/v1/webhooks/{id}");
        using var listed = await node.Admin.SendAsync(HttpMethod.Get, "/v1/webhooks");
        Assert.Equal(HttpStatusCode.OK, read.StatusCode);
        var one = await Json(read);
        var all = (await Json(listed)).GetProperty("webhooks").EnumerateArray().ToList();
        foreach (var shown in new[] { one, Assert.Single(all) })
        {
            Assert.Equal((id, "https://hooks.example.com/callgrains", "call.ended,call.initiated"), (shown.Str("id"), shown.Str("url"), Events(shown)));
            Assert.Equal(endpoint.GetProperty("createdAt").GetDouble(), shown.GetProperty("createdAt").GetDouble());
            Assert.Equal(JsonValueKind.Null, shown.GetProperty("disabled").ValueKind);
            Assert.False(shown.TryGetProperty("secret", out _), "a read shows no secret");
        }

        using var deleted = await node.Admin.SendAsync(HttpMethod.Delete, $"/v1/webhooks/{id}");
        using var gone = await node.Admin.SendAsync(HttpMethod.Get, $"/v1/webhooks/{id}");
        using var deletedAgain = await node.Admin.SendAsync(HttpMethod.Delete, $"/v1/webhooks/{id}");
        using var listedAfter = await node.Admin.SendAsync(HttpMethod.Get, "/v1/webhooks");
        Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);
        Assert.Equal((HttpStatusCode.NotFound, "ERR_BAD_REQUEST"), (gone.StatusCode, await Answers.ErrorCodeOf(gone)));
        Assert.Contains(id, await Answers.MessageOf(gone), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.NotFound, deletedAgain.StatusCode);
        Assert.Empty(Ids(await Json(listedAfter)));
    }

    [Fact]
    public async Task Every_event_is_asked_for_with_a_star_and_repeated_names_count_once()
    {
        using var all = await node.Admin.SendAsync(HttpMethod.Post, "/v1/webhooks", new { url = "http://127.0.0.1:9/all", events = new[] { "*" } });
        using var twice = await node.Admin.SendAsync(HttpMethod.Post, "/v1/webhooks", new { url = "https://hooks.example.com/x", events = new[] { "call.busy", "call.busy" } });

        Assert.Equal((HttpStatusCode.Created, "*"), (all.StatusCode, Events(await Json(all))));
        Assert.Equal((HttpStatusCode.Created, "call.busy"), (twice.StatusCode, Events(await Json(twice))));
    }

    [Fact]
    public async Task An_endpoint_disabled_by_its_receiver_shows_when_and_why()
    {
        using var created = await node.Admin.SendAsync(HttpMethod.Post, "/v1/webhooks", new { url = "https://hooks.example.com/gone", events = new[] { "*" } });
        var id = (await Json(created)).Str("id");
        var before = DateTimeOffset.UtcNow.AddMinutes(-1).ToUnixTimeSeconds();

        // What the delivery grain does when the receiver answers 410 Gone.
        await node.Node.Services.GetRequiredService<IGrainFactory>().GetGrain<IWebhookRegistryGrain>(IWebhookRegistryGrain.Key).Disable(id, "410 Gone");

        using var read = await node.Admin.SendAsync(HttpMethod.Get, $"/v1/webhooks/{id}");
        using var listed = await node.Admin.SendAsync(HttpMethod.Get, "/v1/webhooks");
        foreach (var shown in new[] { await Json(read), (await Json(listed)).GetProperty("webhooks")[0] })
        {
            var disabled = shown.GetProperty("disabled");
            Assert.Equal("410 Gone", disabled.Str("reason"));
            Assert.InRange(disabled.GetProperty("at").GetDouble(), before, DateTimeOffset.UtcNow.AddMinutes(1).ToUnixTimeSeconds());
        }
    }

    [Theory]
    [InlineData("not json", "the body must be a JSON object")]
    [InlineData("[]", "the body must be a JSON object")]
    [InlineData("{}", "url is required")]
    [InlineData("{\"events\":[\"*\"]}", "url is required")]
    [InlineData("{\"url\":\"https://hooks.example.com/h\"}", "events is required")]
    [InlineData("{\"url\":\"https://hooks.example.com/h\",\"events\":\"*\"}", "events is required")]
    [InlineData("{\"url\":\"https://hooks.example.com/h\",\"events\":[1]}", "events is required")]
    [InlineData("{\"url\":\"https://hooks.example.com/h\",\"events\":[]}", "events must be")]
    [InlineData("{\"url\":\"https://hooks.example.com/h\",\"events\":[\"call.nope\"]}", "events must be")]
    [InlineData("{\"url\":42,\"events\":[\"*\"]}", "url is required")]
    [InlineData("{\"url\":\"hooks.example.com/h\",\"events\":[\"*\"]}", "url must be an absolute URL")]
    [InlineData("{\"url\":\"ftp://hooks.example.com/h\",\"events\":[\"*\"]}", "url must be http:// or https://")]
    [InlineData("{\"url\":\"https://user:pass@hooks.example.com/h\",\"events\":[\"*\"]}", "url must not carry credentials")]
    public async Task Bad_bodies_urls_and_filters_are_400_with_the_reason_and_create_nothing(string body, string reason)
    {
        using var response = await PostRawAsync(body);
        using var listed = await node.Admin.SendAsync(HttpMethod.Get, "/v1/webhooks");

        Assert.Equal((HttpStatusCode.BadRequest, "ERR_BAD_REQUEST"), (response.StatusCode, await Answers.ErrorCodeOf(response)));
        Assert.Contains(reason, await Answers.MessageOf(response), StringComparison.Ordinal);
        Assert.Empty(Ids(await Json(listed)));
    }

    [Fact]
    public async Task A_body_past_the_bound_is_400_and_a_url_past_2048_characters_too()
    {
        using var huge = await PostRawAsync($"{{\"url\":\"https://hooks.example.com/{new string('a', 20_000)}\",\"events\":[\"*\"]}}");
        using var longUrl = await node.Admin.SendAsync(HttpMethod.Post, "/v1/webhooks", new { url = $"https://hooks.example.com/{new string('a', 2048)}", events = new[] { "*" } });

        Assert.Equal(HttpStatusCode.BadRequest, huge.StatusCode);
        Assert.Contains("the body must be at most", await Answers.MessageOf(huge), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.BadRequest, longUrl.StatusCode);
        Assert.Contains("at most 2048 characters", await Answers.MessageOf(longUrl), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Past_the_cap_a_new_endpoint_is_400_until_one_is_deleted()
    {
        var ids = new List<string>();
        for (var i = 0; i < WebhookNodeFixture.MaxEndpoints; i++)
        {
            using var created = await node.Admin.SendAsync(HttpMethod.Post, "/v1/webhooks", new { url = $"https://hooks.example.com/{i}", events = new[] { "*" } });
            Assert.Equal(HttpStatusCode.Created, created.StatusCode);
            ids.Add((await Json(created)).Str("id"));
        }

        using var refused = await node.Admin.SendAsync(HttpMethod.Post, "/v1/webhooks", new { url = "https://hooks.example.com/more", events = new[] { "*" } });
        Assert.Equal((HttpStatusCode.BadRequest, "ERR_BAD_REQUEST"), (refused.StatusCode, await Answers.ErrorCodeOf(refused)));
        Assert.Contains($"at most {WebhookNodeFixture.MaxEndpoints} webhook endpoints", await Answers.MessageOf(refused), StringComparison.Ordinal);

        using var deleted = await node.Admin.SendAsync(HttpMethod.Delete, $"/v1/webhooks/{ids[0]}");
        using var again = await node.Admin.SendAsync(HttpMethod.Post, "/v1/webhooks", new { url = "https://hooks.example.com/more", events = new[] { "*" } });
        Assert.Equal(HttpStatusCode.Created, again.StatusCode);
    }

    [Fact]
    public async Task Deliveries_show_each_event_for_the_endpoint_with_its_attempts_newest_first_and_filter_by_status()
    {
        // Nothing listens on the receiver's port: every attempt fails with an error and no status code.
        using var created = await node.Admin.SendAsync(HttpMethod.Post, "/v1/webhooks", new { url = $"http://127.0.0.1:{GatewayNode.FreePort()}/hook", events = new[] { "*" } });
        var id = (await Json(created)).Str("id");

        // The node that answered the POST has read the list again: the call made right after it owes the new endpoint.
        using (var none = await node.Admin.SendAsync(HttpMethod.Get, $"/v1/webhooks/{id}/deliveries"))
        {
            Assert.Equal(HttpStatusCode.OK, none.StatusCode);
            Assert.Empty((await Json(none)).GetProperty("deliveries").EnumerateArray());
        }

        var users = await node.Admin.UsersAsync(2, "whd");
        await using var caller = await WsClient.ConnectAsync(node.Node, users[0].Uid, users[0].Token);
        await using var callee = await WsClient.ConnectAsync(node.Node, users[1].Uid, users[1].Token);
        var sessionId = (await caller.CallAsync(users[1].Uid)).SessionId();
        await callee.EventAsync(0, "incomingCallReceived");
        Assert.True((await caller.RequestAsync("rejectCall", new { sessionId, status = "cancelled" })).IsOk());

        // Both events are queued; the first is tried at once and fails, the second waits behind it (same call).
        var deadline = DateTime.UtcNow.AddSeconds(60);
        List<JsonElement> deliveries;
        while (true)
        {
            using var page = await node.Admin.SendAsync(HttpMethod.Get, $"/v1/webhooks/{id}/deliveries");
            deliveries = [.. (await Json(page)).GetProperty("deliveries").EnumerateArray()];
            if (deliveries.Count == 2 && deliveries.Any(d => d.GetProperty("attempts").GetArrayLength() > 0))
            {
                break;
            }

            Assert.True(DateTime.UtcNow < deadline, $"the call's deliveries never showed an attempt: {string.Join(", ", deliveries)}");
            await Task.Delay(200);
        }

        Assert.Equal(["call.cancelled", "call.initiated"], deliveries.Select(d => d.Str("type")));
        Assert.All(deliveries, d => Assert.Equal((sessionId, "pending"), (d.Str("sessionId"), d.Str("status"))));
        Assert.All(deliveries, d => Assert.Equal(JsonValueKind.Number, d.GetProperty("nextAttemptAt").ValueKind));
        Assert.NotEqual(deliveries[0].Str("webhookId"), deliveries[1].Str("webhookId"));
        Assert.True(deliveries[0].GetProperty("createdAt").GetDouble() >= deliveries[1].GetProperty("createdAt").GetDouble());
        var attempt = deliveries[1].GetProperty("attempts")[0];
        Assert.Equal(JsonValueKind.Null, attempt.GetProperty("statusCode").ValueKind);
        Assert.False(string.IsNullOrEmpty(attempt.Str("error")));
        Assert.True(attempt.GetProperty("latencyMs").GetDouble() >= 0);
        Assert.True(attempt.GetProperty("at").GetDouble() >= deliveries[1].GetProperty("createdAt").GetDouble() - 1);

        using var pending = await node.Admin.SendAsync(HttpMethod.Get, $"/v1/webhooks/{id}/deliveries?status=pending&limit=1");
        using var delivered = await node.Admin.SendAsync(HttpMethod.Get, $"/v1/webhooks/{id}/deliveries?status=delivered");
        using var failed = await node.Admin.SendAsync(HttpMethod.Get, $"/v1/webhooks/{id}/deliveries?status=failed");
        Assert.Equal(["call.cancelled"], (await Json(pending)).GetProperty("deliveries").EnumerateArray().Select(d => d.Str("type")));
        Assert.Empty((await Json(delivered)).GetProperty("deliveries").EnumerateArray());
        Assert.Empty((await Json(failed)).GetProperty("deliveries").EnumerateArray());

        // Deleted, the endpoint has no deliveries to show.
        using var deleted = await node.Admin.SendAsync(HttpMethod.Delete, $"/v1/webhooks/{id}");
        using var gone = await node.Admin.SendAsync(HttpMethod.Get, $"/v1/webhooks/{id}/deliveries");
        Assert.Equal(HttpStatusCode.NotFound, gone.StatusCode);
    }

    [Theory]
    [InlineData("status=bogus", "status must be pending, delivered or failed")]
    [InlineData("status=Failed", "status must be pending, delivered or failed")]
    [InlineData("status=", "'status' must be given once, with a value")]
    [InlineData("status=failed&status=pending", "'status' must be given once, with a value")]
    [InlineData("limit=0", "limit must be a whole number from 1 to 100")]
    [InlineData("limit=101", "limit must be a whole number from 1 to 100")]
    [InlineData("limit=ten", "limit must be a whole number from 1 to 100")]
    [InlineData("limit=-1", "limit must be a whole number from 1 to 100")]
    [InlineData("cursor=x", "unknown parameter 'cursor'")]
    public async Task Bad_delivery_queries_are_400(string query, string reason)
    {
        using var created = await node.Admin.SendAsync(HttpMethod.Post, "/v1/webhooks", new { url = "https://hooks.example.com/q", events = new[] { "*" } });
        var id = (await Json(created)).Str("id");

        using var response = await node.Admin.SendAsync(HttpMethod.Get, $"/v1/webhooks/{id}/deliveries?{query}");

        Assert.Equal((HttpStatusCode.BadRequest, "ERR_BAD_REQUEST"), (response.StatusCode, await Answers.ErrorCodeOf(response)));
        Assert.Contains(reason, await Answers.MessageOf(response), StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_unknown_endpoint_is_404_for_every_route()
    {
        var id = $"wh_{Guid.NewGuid():N}";
        foreach (var (method, path) in new[] { (HttpMethod.Get, $"/v1/webhooks/{id}"), (HttpMethod.Delete, $"/v1/webhooks/{id}"), (HttpMethod.Get, $"/v1/webhooks/{id}/deliveries") })
        {
            using var response = await node.Admin.SendAsync(method, path);
            Assert.Equal((HttpStatusCode.NotFound, "ERR_BAD_REQUEST"), (response.StatusCode, await Answers.ErrorCodeOf(response)));
        }
    }

    [Fact]
    public async Task Webhooks_need_the_admin_key_and_are_not_served_on_the_public_port()
    {
        using var created = await node.Admin.SendAsync(HttpMethod.Post, "/v1/webhooks", new { url = "https://hooks.example.com/k", events = new[] { "*" } });
        var id = (await Json(created)).Str("id");
        var (_, token) = (await node.Admin.UsersAsync(1, "whk"))[0];
        (HttpMethod, string, object?)[] routes =
        [
            (HttpMethod.Post, "/v1/webhooks", new { url = "https://hooks.example.com/k2", events = new[] { "*" } }),
            (HttpMethod.Get, "/v1/webhooks", null), (HttpMethod.Get, $"/v1/webhooks/{id}", null),
            (HttpMethod.Get, $"/v1/webhooks/{id}/deliveries", null), (HttpMethod.Delete, $"/v1/webhooks/{id}", null),
        ];

        foreach (var (method, path, body) in routes)
        {
            using var noKey = await node.Admin.SendAsync(method, path, body, apiKey: null);
            using var wrongKey = await node.Admin.SendAsync(method, path, body, apiKey: "wrong-key-0123456789");
            using var userToken = await node.Admin.SendAsync(method, path, body, apiKey: null, bearer: token);
            using var publicPort = await node.Public.SendAsync(method, path, body);
            Assert.Equal(
                (HttpStatusCode.Unauthorized, HttpStatusCode.Unauthorized, HttpStatusCode.Unauthorized, HttpStatusCode.NotFound),
                (noKey.StatusCode, wrongKey.StatusCode, userToken.StatusCode, publicPort.StatusCode));
            Assert.Equal("ERR_PERMISSION_DENIED", await Answers.ErrorCodeOf(noKey));
        }

        using var listed = await node.Admin.SendAsync(HttpMethod.Get, "/v1/webhooks");
        Assert.Equal([id], Ids(await Json(listed)));
    }

    private async Task<HttpResponseMessage> PostRawAsync(string body)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/webhooks") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        request.Headers.Add("X-Api-Key", GatewayNode.AdminKey);
        return await node.Admin.Http.SendAsync(request);
    }

    private static async Task<JsonElement> Json(HttpResponseMessage response) =>
        JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone();

    private static string Events(JsonElement endpoint) => string.Join(',', endpoint.GetProperty("events").EnumerateArray().Select(e => e.GetString()));

    private static List<string> Ids(JsonElement list) => [.. list.GetProperty("webhooks").EnumerateArray().Select(e => e.Str("id"))];
}
