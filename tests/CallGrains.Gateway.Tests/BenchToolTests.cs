using System.Text.Json;
using System.Text.Json.Nodes;
using CallGrains.Bench;
using CallGrains.Client.Protocol;

namespace CallGrains.Gateway.Tests;

/// <summary>The load tool measures what it claims: real cycles against a real gateway, and what it reads off the wire.</summary>
[Collection(TwoNodeGroup.Name)]
public sealed class BenchToolTests(TwoNodeFixture cluster)
{
    [Fact]
    public async Task A_short_paced_run_completes_full_cycles_across_two_gateways_without_failures()
    {
        const int Rate = 40, Seconds = 2, Warmup = 1;
        var result = await Cycles.RunAsync([cluster.A.BaseUri, cluster.B.BaseUri], GatewayNode.AdminKey, pairs: 4, rate: Rate, seconds: Seconds, warmup: Warmup, tag: "t");

        Assert.Equal(0, result.Failures);
        // How many cycles fit in 2 s depends on the machine, so only the bounds are checked: some completed, and the
        // pacing never let more start than the slots due before the end (a slow start catches up, within that).
        Assert.InRange(result.Cycles, 1, Rate * (Seconds + Warmup));
        Assert.True(result.P50 > 0 && result.P50 <= result.P99 && result.P99 <= result.Max);

        // The slowest setup is placed in the measured window (its cycle ended after the warm-up, before the run's end).
        Assert.InRange(result.MaxAt, double.Epsilon, result.Seconds);
    }

    [Fact]
    public async Task The_fan_out_bench_rings_a_whole_group_across_two_gateways_and_reports_its_row()
    {
        var row = await FanOut.MeasureAsync("t", [cluster.A.BaseUri, cluster.B.BaseUri], GatewayNode.AdminKey, size: 6, calls: 3, warmup: 1);

        // | t | 3 | answered p50 / p99 | rung p50 / p99 / max |: three measured calls, each ringing all six members.
        var cells = row.Split('|', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(("t", "3"), (cells[0], cells[1]));
        var rung = cells[3].Split(" / ").Select(v => double.Parse(v, System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        Assert.True(rung[0] > 0 && rung[0] <= rung[1] && rung[1] <= rung[2], row);
    }

    /// <summary>
    /// The cycle floor (<c>bench floor-cycles</c>) is a floor only if it carries the gateway's cycle: the same
    /// messages, with the same fields and about the same size, and the bench's cycles complete on it.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task The_cycle_floor_carries_the_gateways_messages_and_completes_the_benchs_cycles(bool grains)
    {
        var port = GatewayNode.FreePort();
        await using var floor = FloorCycles.Build(port, grains, GatewayNode.FreePort(), GatewayNode.FreePort());
        await floor.StartAsync();
        var floorUri = new Uri($"http://127.0.0.1:{port}");

        // The same users (so the same ids in every message) on the gateway and on the floor, whose tokens are the uids.
        using var admin = new BenchAdmin(cluster.A.BaseUri, GatewayNode.AdminKey);
        var users = await admin.CreateUsersAsync($"floor{(grains ? 1 : 0)}-{Guid.NewGuid():N}"[..16], [0, 1]);
        var real = await OneCycleAsync(cluster.A.BaseUri, users[0], users[1]);
        var bare = await OneCycleAsync(floorUri, (users[0].Uid, users[0].Uid), (users[1].Uid, users[1].Uid));

        foreach (var (name, expected) in real)
        {
            var actual = bare[name];
            Assert.Equal(Fields(expected), Fields(actual));
            Assert.Equal(Fields(expected.GetProperty("call")), Fields(actual.GetProperty("call")));
            Assert.Equal(expected.GetProperty("call").GetProperty("status").GetString(), actual.GetProperty("call").GetProperty("status").GetString());
            var (realBytes, bareBytes) = (expected.GetRawText().Length, actual.GetRawText().Length);
            Assert.True(Math.Abs(bareBytes - realBytes) <= realBytes / 4, $"{name}: {bareBytes} bytes on the floor against {realBytes} from the gateway");
        }

        var result = await Cycles.RunAsync([floorUri], "", pairs: 4, rate: 40, seconds: 2, warmup: 1, tag: "f");
        Assert.Equal(0, result.Failures);
        Assert.InRange(result.Cycles, 1, 40 * 3);
    }

    private static string[] Fields(JsonElement element) => [.. element.EnumerateObject().Select(p => p.Name).Order()];

    /// <summary>One cycle by hand; the response to each request and each event the other party got, by name.</summary>
    private static async Task<Dictionary<string, JsonElement>> OneCycleAsync(Uri server, (string Uid, string Token) caller, (string Uid, string Token) callee)
    {
        await using var a = await ProtocolConnection.OpenAsync(new ProtocolConnectionOptions { Server = server, Token = caller.Token });
        await using var b = await ProtocolConnection.OpenAsync(new ProtocolConnectionOptions { Server = server, Token = callee.Token });
        a.Start();
        b.Start();
        var incoming = b.WaitForEventAsync("incomingCallReceived");
        var accepted = a.WaitForEventAsync("outgoingCallAccepted");
        var ended = b.WaitForEventAsync("callEndedMessageReceived");
        var messages = new Dictionary<string, JsonElement>();
        var initiated = await a.RequestAsync("initiateCall", new JsonObject { ["receiverId"] = callee.Uid, ["receiverType"] = "user", ["callType"] = "audio" });
        messages["initiateCall"] = initiated.Json;
        messages["incomingCallReceived"] = (await incoming.WaitAsync(TimeSpan.FromSeconds(10))).Json;
        messages["acceptCall"] = (await b.RequestAsync("acceptCall", new JsonObject { ["sessionId"] = initiated.SessionId })).Json;
        messages["outgoingCallAccepted"] = (await accepted.WaitAsync(TimeSpan.FromSeconds(10))).Json;
        messages["endCall"] = (await a.RequestAsync("endCall", new JsonObject { ["sessionId"] = initiated.SessionId })).Json;
        messages["callEndedMessageReceived"] = (await ended.WaitAsync(TimeSpan.FromSeconds(10))).Json;
        return messages;
    }

    [Fact]
    public void Memory_is_flat_only_when_every_sample_after_the_warm_up_is_within_15_percent_of_their_mean()
    {
        static (TimeSpan, long)[] Curve(params long[] mib) => [.. mib.Select((m, i) => (TimeSpan.FromSeconds(30 * i), m << 20))];

        // The warm-up (first minute here) may climb; after it, a slow line of growth is not flat.
        Assert.True(Memory.Verdict(Curve(50, 120, 200, 205, 198, 210, 202), TimeSpan.FromMinutes(1))!.Value.Flat);
        Assert.False(Memory.Verdict(Curve(50, 120, 200, 230, 260, 290, 320), TimeSpan.FromMinutes(1))!.Value.Flat);
        Assert.False(Memory.Verdict(Curve(200, 200, 200, 200, 100), TimeSpan.FromMinutes(1))!.Value.Flat);
        Assert.Null(Memory.Verdict(Curve(200, 200), TimeSpan.FromMinutes(1)));
    }

    [Fact]
    public void The_message_reader_finds_event_id_status_and_session()
    {
        var evt = ProtocolMessage.Parse("""{"event":"incomingCallReceived","seq":3,"call":{"sessionId":"s1","initiator":{"uid":"a","name":"A"},"participants":[{"uid":"a"}],"metadata":{"sessionId":"decoy"}}}"""u8, keepJson: false);
        var error = ProtocolMessage.Parse("""{"id":"9","ok":false,"error":{"code":"ERR_CALL_BUSY","message":"m"},"call":{"sessionId":"s2"},"seq":0}"""u8, keepJson: false);

        Assert.Equal(("incomingCallReceived", "s1", 3L), (evt.Event, evt.SessionId, evt.Seq));
        Assert.Equal(("9", false, "ERR_CALL_BUSY", "s2"), (error.Id, error.Ok, error.ErrorCode, error.SessionId));
        Assert.Equal(JsonValueKind.Undefined, evt.Json.ValueKind);
        Assert.True(evt.Timestamp > 0);
    }
}
