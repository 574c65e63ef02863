using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using CallGrains.Client.Protocol;

namespace CallGrains.Browser.Tests;

/// <summary>What serves the browser: /info, / by what the client accepts, /js, and the Development-only /dev endpoints.</summary>
[Collection(BrowserGroup.Name)]
public sealed class EndpointTests(BrowserFixture browser)
{
    [Fact]
    public async Task In_Development_root_is_the_demo_page_for_browsers_and_json_for_json_clients()
    {
        using var http = new HttpClient { BaseAddress = browser.Node.BaseUri };

        Assert.Equal("CallGrains", (await JsonAsync(http, "/info", "application/json")).GetProperty("service").GetString());
        Assert.Equal("CallGrains", (await JsonAsync(http, "/", "application/json")).GetProperty("service").GetString());
        Assert.Equal("CallGrains", (await JsonAsync(http, "/", "*/*")).GetProperty("service").GetString());

        using var page = await GetAsync(http, "/", "text/html,application/xhtml+xml,*/*;q=0.8");
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Equal("text/html", page.Content.Headers.ContentType?.MediaType);
        Assert.Contains("<title>CallGrains", await page.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        foreach (var (path, type) in new[] { ("/js/callgrains.js", "text/javascript"), ("/demo/app.js", "text/javascript"), ("/demo/app.css", "text/css") })
        {
            using var asset = await GetAsync(http, path, "*/*");
            Assert.Equal(HttpStatusCode.OK, asset.StatusCode);
            Assert.Equal(type, asset.Content.Headers.ContentType?.MediaType);
        }
    }

    [Fact]
    public async Task Outside_Development_root_stays_json_and_the_dev_endpoints_and_demo_are_not_found()
    {
        await using var node = await DevNode.StartAsync("Production");
        using var http = new HttpClient { BaseAddress = node.BaseUri };

        Assert.Equal("CallGrains", (await JsonAsync(http, "/", "text/html,application/xhtml+xml,*/*;q=0.8")).GetProperty("service").GetString());
        Assert.Equal("/js/callgrains.js", (await JsonAsync(http, "/info", "application/json")).GetProperty("client").GetString());
        using (var client = await GetAsync(http, "/js/callgrains.js", "*/*"))
        {
            Assert.Equal(HttpStatusCode.OK, client.StatusCode);
        }

        using (var signin = await http.PostAsJsonAsync("/dev/signin", new { uid = "mallory", name = "Mallory" }))
        {
            Assert.Equal(HttpStatusCode.NotFound, signin.StatusCode);
        }

        foreach (var path in new[] { "/dev/users", "/demo/app.js", "/demo/index.html" })
        {
            using var response = await GetAsync(http, path, "*/*");
            Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        }
    }

    [Fact]
    public async Task Dev_signin_creates_the_user_once_and_the_list_shows_them_online_while_connected()
    {
        using var http = new HttpClient { BaseAddress = browser.Node.BaseUri };
        var uid = $"dana-{Guid.NewGuid():N}"[..16];

        var first = await SignInAsync(http, new { uid, name = "Dana" });
        Assert.Equal(uid, first.GetProperty("uid").GetString());
        Assert.Equal("Dana", first.GetProperty("name").GetString());
        Assert.Equal(JsonValueKind.Array, first.GetProperty("iceServers").ValueKind);
        var again = await SignInAsync(http, new { uid, name = "Someone else" });
        Assert.Equal("Dana", again.GetProperty("name").GetString());
        Assert.NotEqual(0, again.GetProperty("expiresAt").GetInt64());

        using (var bad = await http.PostAsJsonAsync("/dev/signin", new { uid = "no spaces", name = "X" }))
        {
            Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
            Assert.Equal("ERR_BAD_REQUEST", (await bad.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("error").GetProperty("code").GetString());
        }

        Assert.False((await ListedAsync(http, uid)).GetProperty("online").GetBoolean());

        using var deadline = new CancellationTokenSource(DemoUser.Patience);
        await using var connection = await ProtocolConnection.OpenAsync(new() { Server = browser.Node.BaseUri, Token = first.GetProperty("authToken").GetString(), TokenInQuery = true }, deadline.Token);
        Assert.Equal("welcome", (await connection.ReceiveAsync(deadline.Token))?.Event);

        var listed = await ListedAsync(http, uid);
        Assert.True(listed.GetProperty("online").GetBoolean());
        Assert.False(listed.GetProperty("inCall").GetBoolean());
        Assert.Equal("Dana", listed.GetProperty("name").GetString());

        await connection.CloseAsync();
        while (!deadline.IsCancellationRequested && (await ListedAsync(http, uid)).GetProperty("online").GetBoolean())
        {
            await Task.Delay(100, CancellationToken.None);
        }

        Assert.False((await ListedAsync(http, uid)).GetProperty("online").GetBoolean());
    }

    private static async Task<JsonElement> SignInAsync(HttpClient http, object body)
    {
        using var response = await http.PostAsJsonAsync("/dev/signin", body);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return await response.Content.ReadFromJsonAsync<JsonElement>();
    }

    private static async Task<JsonElement> ListedAsync(HttpClient http, string uid)
    {
        var users = (await JsonAsync(http, "/dev/users", "application/json")).GetProperty("users");
        return Assert.Single(users.EnumerateArray(), u => u.GetProperty("uid").GetString() == uid);
    }

    private static async Task<JsonElement> JsonAsync(HttpClient http, string path, string accept)
    {
        using var response = await GetAsync(http, path, accept);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        return await response.Content.ReadFromJsonAsync<JsonElement>();
    }

    private static async Task<HttpResponseMessage> GetAsync(HttpClient http, string path, string accept)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Accept.ParseAdd(accept);
        return await http.SendAsync(request);
    }
}
