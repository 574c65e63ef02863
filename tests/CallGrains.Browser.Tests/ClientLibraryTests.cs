using System.Collections.Concurrent;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Microsoft.Playwright;

namespace CallGrains.Browser.Tests;

/// <summary>
/// /js/callgrains.js in Chromium against a scripted gateway (Playwright answers the page's WebSocket in place of the
/// node), so a test can lose an event or a socket on purpose and see what the client makes of it.
/// </summary>
[Collection(BrowserGroup.Name)]
public sealed partial class ClientLibraryTests(BrowserFixture browser)
{
    private const string Me = "ann";

    [Fact]
    public async Task A_seq_gap_makes_the_client_sync_and_raise_the_cancel_it_missed()
    {
        await using var harness = await Harness.StartAsync(browser, welcome: new { seq = 0, activeCall = (object?)null, ringing = Array.Empty<object>() });
        harness.RestCall("s-1", Call("s-1", "unanswered", from: "bob"));
        harness.OnSync = () => new { activeCall = (object?)null, ringing = new[] { Call("s-2", "initiated", from: "cat") }, seq = 3 };

        harness.Server(0).Send(Event("incomingCallReceived", 1, Call("s-1", "initiated", from: "bob")));
        // seq 2 (bob's ring stopping) is lost; cat's ring arrives as seq 3.
        harness.Server(0).Send(Event("incomingCallReceived", 3, Call("s-2", "initiated", from: "cat")));

        var canceled = await harness.WaitForEventAsync("incomingCallCanceled");
        Assert.Equal("s-1", canceled.GetProperty("call").GetProperty("sessionId").GetString());
        Assert.Equal("unanswered", canceled.GetProperty("detail").GetProperty("reason").GetString());
        Assert.True(canceled.GetProperty("detail").GetProperty("resynced").GetBoolean());
        Assert.Contains(harness.Sent(0), frame => frame["op"]?.GetValue<string>() == "sync");
        Assert.Equal(["s-2"], await harness.Page.EvaluateAsync<string[]>("() => client.getRingingCalls().map(c => c.sessionId)"));
    }

    [Fact]
    public async Task After_a_lost_socket_it_reconnects_as_the_same_device_and_raises_the_answer_it_missed()
    {
        var ringing = Call("s-9", "initiated", from: Me, to: "bob");
        await using var harness = await Harness.StartAsync(browser, welcome: new { seq = 4, activeCall = ringing, ringing = Array.Empty<object>() });

        // The gateway goes away (1012) while bob answers; the next welcome has the call ongoing.
        harness.NextWelcome = new { seq = 5, activeCall = Call("s-9", "ongoing", from: Me, to: "bob"), ringing = Array.Empty<object>() };
        await harness.Server(0).CloseAsync(new WebSocketRouteCloseOptions { Code = 1012, Reason = "service restart" });

        var accepted = await harness.WaitForEventAsync("outgoingCallAccepted");
        Assert.Equal("ongoing", accepted.GetProperty("call").GetProperty("status").GetString());
        Assert.True(accepted.GetProperty("detail").GetProperty("resynced").GetBoolean());
        Assert.Contains("deviceId=d-first", harness.Urls[1], StringComparison.Ordinal);

        // The token travels as a subprotocol, never in a URL a proxy would log.
        Assert.All(harness.Urls, url => Assert.DoesNotContain("token=", url, StringComparison.Ordinal));
        var states = await harness.Page.EvaluateAsync<string[]>("() => log.filter(e => e.name === 'connectionStateChanged').map(e => e.call.state)");
        Assert.Equal(["connected", "reconnecting", "connected"], states);
    }

    [Fact]
    public async Task A_failed_request_rejects_with_the_protocol_code_and_the_call()
    {
        await using var harness = await Harness.StartAsync(browser, welcome: new { seq = 0, activeCall = (object?)null, ringing = Array.Empty<object>() });
        harness.OnRequest = frame => new
        {
            id = frame["id"]!.GetValue<string>(),
            ok = false,
            error = new { code = "ERR_CALL_BUSY", message = "bob is on another call" },
            call = Call("s-5", "busy", from: Me, to: "bob"),
            seq = 0,
        };

        var error = await harness.Page.EvaluateAsync<JsonElement>(
            "() => client.initiateCall({ receiverId: 'bob', callType: 'audio' }).then(() => null, e => ({ type: e.constructor.name, code: e.code, status: e.call?.status }))");

        Assert.Equal("CallGrainsError", error.GetProperty("type").GetString());
        Assert.Equal("ERR_CALL_BUSY", error.GetProperty("code").GetString());
        Assert.Equal("busy", error.GetProperty("status").GetString());
        var sent = Assert.Single(harness.Sent(0), f => f["op"]?.GetValue<string>() == "initiateCall");
        Assert.Equal("user", sent["receiverType"]!.GetValue<string>());
    }

    [Fact]
    public async Task A_refused_token_fails_connect_with_ERR_USER_NOT_LOGGED_IN()
    {
        var page = await browser.Browser.NewPageAsync(new BrowserNewPageOptions { BaseURL = browser.Node.BaseUri.ToString() });
        try
        {
            await page.GotoAsync("/info");
            var code = await page.EvaluateAsync<string>(
                "async () => { const { CallGrainsClient } = await import('/js/callgrains.js'); " +
                "try { await CallGrainsClient.connect({ token: 'not-a-token' }); return 'connected'; } catch (e) { return e.code; } }");
            Assert.Equal("ERR_USER_NOT_LOGGED_IN", code);
        }
        finally
        {
            await page.CloseAsync();
        }
    }

    private static object Call(string sessionId, string status, string from, string to = Me) => new
    {
        sessionId,
        callType = "video",
        receiverType = "user",
        receiverId = to,
        initiator = new { uid = from, name = from.ToUpperInvariant() },
        status,
        initiatedAt = 1796000000.5,
        joinedAt = status == "ongoing" ? 1796000003.5 : (double?)null,
        endedAt = (double?)null,
        duration = (double?)null,
        participants = status == "ongoing"
            ? new object[] { new { uid = from, joinedAt = 1796000003.5, leftAt = (double?)null }, new { uid = to, joinedAt = 1796000003.5, leftAt = (double?)null } }
            : [],
        metadata = new { },
        timeoutSeconds = 45,
    };

    private static string Event(string name, long seq, object call) => JsonSerializer.Serialize(new { @event = name, seq, call });

    /// <summary>A page that has loaded the client, connected through a scripted gateway, and logs every event it raises.</summary>
    private sealed partial class Harness : IAsyncDisposable
    {
        private readonly List<IWebSocketRoute> _servers = [];
        private readonly ConcurrentDictionary<int, List<JsonObject>> _sent = new();
        private readonly ConcurrentDictionary<string, object> _calls = new();

        private Harness(IPage page) => Page = page;

        public IPage Page { get; }

        public List<string> Urls { get; } = [];

        public object? NextWelcome { get; set; }

        public Func<object>? OnSync { get; set; }

        public Func<JsonObject, object>? OnRequest { get; set; }

        public static async Task<Harness> StartAsync(BrowserFixture browser, object welcome)
        {
            var page = await browser.Browser.NewPageAsync(new BrowserNewPageOptions { BaseURL = browser.Node.BaseUri.ToString() });
            page.SetDefaultTimeout((float)DemoUser.Patience.TotalMilliseconds);
            var harness = new Harness(page);
            await page.RouteWebSocketAsync(GatewaySocket(), server => harness.Accept(server, welcome));
            await page.RouteAsync("**/v1/calls/*", route => harness.AnswerCallAsync(route));
            await page.GotoAsync("/info");
            await page.EvaluateAsync(
                "async () => { const { CallGrainsClient, CallEvents } = await import('/js/callgrains.js'); window.log = [];" +
                " const listeners = Object.fromEntries(CallEvents.map(name => [name, (call, detail) => log.push({ name, call, detail })]));" +
                " window.client = await CallGrainsClient.connect({ token: 'scripted', listeners }); }");
            return harness;
        }

        public IWebSocketRoute Server(int index)
        {
            lock (_servers)
            {
                return _servers[index];
            }
        }

        public List<JsonObject> Sent(int connection) => [.. _sent.GetOrAdd(connection, _ => [])];

        /// <summary>What <c>GET /v1/calls/{sessionId}</c> answers (the client reads a call whose end it missed).</summary>
        public void RestCall(string sessionId, object call) => _calls[sessionId] = call;

        public async Task<JsonElement> WaitForEventAsync(string name)
        {
            var handle = await Page.WaitForFunctionAsync(
                $"() => log.find(e => e.name === '{name}')",
                null,
                new PageWaitForFunctionOptions { Timeout = (float)DemoUser.Patience.TotalMilliseconds, PollingInterval = 100 });
            return await handle.JsonValueAsync<JsonElement>();
        }

        public async ValueTask DisposeAsync()
        {
            await Page.EvaluateAsync("() => window.client?.close()");
            await Page.CloseAsync();
        }

        private void Accept(IWebSocketRoute server, object welcome)
        {
            int index;
            lock (_servers)
            {
                index = _servers.Count;
                _servers.Add(server);
                Urls.Add(server.Url);
            }

            var snapshot = JsonSerializer.SerializeToNode(index == 0 ? welcome : NextWelcome ?? welcome)!.AsObject();
            snapshot["event"] = "welcome";
            snapshot["uid"] = Me;
            snapshot["deviceId"] = "d-first";
            server.OnMessage(frame =>
            {
                var request = JsonNode.Parse(frame.Text!)!.AsObject();
                var sent = _sent.GetOrAdd(index, _ => []);
                lock (sent)
                {
                    sent.Add(request);
                }

                var op = request["op"]?.GetValue<string>();
                if (op == "sync" && OnSync is not null)
                {
                    var answer = JsonSerializer.SerializeToNode(OnSync())!.AsObject();
                    answer["id"] = request["id"]!.GetValue<string>();
                    answer["ok"] = true;
                    server.Send(answer.ToJsonString());
                }
                else if (OnRequest is not null)
                {
                    server.Send(JsonSerializer.Serialize(OnRequest(request)));
                }
            });
            server.Send(snapshot.ToJsonString());
        }

        private Task AnswerCallAsync(IRoute route)
        {
            var sessionId = new Uri(route.Request.Url).Segments[^1];
            return _calls.TryGetValue(sessionId, out var call)
                ? route.FulfillAsync(new RouteFulfillOptions { Status = 200, ContentType = "application/json", Body = JsonSerializer.Serialize(new { call }) })
                : route.FulfillAsync(new RouteFulfillOptions { Status = 404, ContentType = "application/json", Body = "{\"error\":{\"code\":\"ERR_CALL_NOT_FOUND\",\"message\":\"no call\"}}" });
        }

        [GeneratedRegex("/v1/ws")]
        private static partial Regex GatewaySocket();
    }
}
