using System.Net.WebSockets;
using System.Text.RegularExpressions;
using CallGrains.Gateway.Sockets;

namespace CallGrains.Gateway.Tests;

[Collection(BusyGroup.Name)]
public sealed partial class BusyNodeTests(BusyNode fixture)
{
    private static readonly HashSet<string> OpTags =
        ["initiateCall", "acceptCall", "rejectCall", "endCall", "joinCall", "leaveCall", "generateToken", "sync", "signal", "ping", "unknown", "none"];

    [Fact]
    public async Task A_client_that_stops_reading_is_closed_with_1008_once_its_queue_passes_the_byte_limit()
    {
        var users = await fixture.Admin.UsersAsync(2);
        await using var a = await WsClient.ConnectAsync(fixture.Node, users[0].Uid, users[0].Token);
        await using var b = await WsClient.ConnectWithAsync(fixture.Node.BaseUri, users[1].Uid, users[1].Token, receiveBufferBytes: 16 * 1024);
        var sessionId = (await a.CallAsync(b.Uid)).SessionId();
        Assert.True((await b.RequestAsync("acceptCall", new { sessionId })).IsOk());
        b.PauseReading();

        // 800 signals of 15 KB (12 MB) to a device that reads nothing: far more than the kernel's buffers (a few MB
        // here, the client's kept small) plus the 256 KiB the server may queue, and far fewer than the queue's
        // message limit (100,000), so only the byte limit can close it.
        const int Signals = 800;
        var data = new { pad = new string('x', 15_000) };
        for (var i = 0; i < Signals; i++)
        {
            await a.RequestAsync("signal", new { sessionId, to = b.Uid, data });
        }

        b.ResumeReading();

        Assert.Equal(WebSocketCloseStatus.PolicyViolation, await b.WaitClosedAsync(TimeSpan.FromSeconds(60)));
        Assert.InRange(b.Events.Count(e => e.Str("event") == "signal"), 1, Signals - 1);
        Assert.True((await a.RequestAsync("ping")).IsOk());
    }

    [Fact]
    public async Task Op_names_a_client_makes_up_never_become_metric_tags()
    {
        var (uid, token) = (await fixture.Admin.UsersAsync(1))[0];
        await using var c = await WsClient.ConnectAsync(fixture.Node, uid, token);
        var invented = Enumerable.Range(0, 200).Select(i => $"made-up-{i}-{Guid.NewGuid():N}").ToList();

        foreach (var op in invented)
        {
            Assert.Equal("ERR_BAD_REQUEST", (await c.RequestAsync(op)).ErrorCode());
        }

        Assert.Equal("ERR_BAD_REQUEST", (await c.SendRawAsync("{\"id\":")).ErrorCode());

        // The exporter caches a scrape briefly: poll until the 200 are counted (as "unknown", nowhere else).
        var deadline = DateTime.UtcNow.AddSeconds(30);
        Dictionary<string, double> byOp;
        do
        {
            await Task.Delay(200);
            byOp = RequestsByOp(await fixture.Admin.Http.GetStringAsync("/metrics"));
        }
        while (byOp.GetValueOrDefault("unknown") < invented.Count && DateTime.UtcNow < deadline);

        Assert.True(byOp.GetValueOrDefault("unknown") >= invented.Count, $"unknown ops counted: {byOp.GetValueOrDefault("unknown")}");
        Assert.True(byOp.GetValueOrDefault("none") >= 1);
        Assert.All(byOp.Keys, op => Assert.Contains(op, OpTags));
    }

    [Fact]
    public async Task Users_whose_last_socket_closed_are_forgotten_by_the_gateway()
    {
        var registry = fixture.Node.Services.GetService(typeof(ConnectionRegistry)) as ConnectionRegistry;
        var users = await fixture.Admin.UsersAsync(30, "gone");
        var clients = new List<WsClient>();
        foreach (var (uid, token) in users)
        {
            clients.Add(await WsClient.ConnectAsync(fixture.Node, uid, token, "one"));
            clients.Add(await WsClient.ConnectAsync(fixture.Node, uid, token, "two"));
        }

        Assert.True(registry!.Users >= users.Length);
        foreach (var client in clients)
        {
            await client.DisposeAsync();
        }

        var deadline = DateTime.UtcNow.AddSeconds(30);
        while ((registry.Users > 0 || registry.Count > 0) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(100);
        }

        Assert.Equal(0, registry.Count);
        Assert.Equal(0, registry.Users);
    }

    private static Dictionary<string, double> RequestsByOp(string metrics)
    {
        var byOp = new Dictionary<string, double>();
        foreach (Match m in RequestsLine().Matches(metrics))
        {
            var op = m.Groups["op"].Value;
            byOp[op] = byOp.GetValueOrDefault(op) + double.Parse(m.Groups["n"].Value, System.Globalization.CultureInfo.InvariantCulture);
        }

        return byOp;
    }

    [GeneratedRegex("""^callgrains_gateway_requests_total\{[^}]*op="(?<op>[^"]*)"[^}]*\} (?<n>\S+)""", RegexOptions.Multiline)]
    private static partial Regex RequestsLine();
}
