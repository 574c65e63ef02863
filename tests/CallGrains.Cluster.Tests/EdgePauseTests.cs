using System.Diagnostics;
using System.Text.Json;
using CallGrains.Gateway.Tests;
using CallGrains.LocalCluster;
using Xunit.Abstractions;

namespace CallGrains.Cluster.Tests;

/// <summary>
/// An edge that lives through a pause longer than its lease (SIGSTOP, as a long network partition or a stalled VM
/// looks): the silos take it for dead and drop its devices, then it comes back with every socket still open.
/// </summary>
public sealed class EdgePauseTests(ITestOutputHelper output) : IAsyncLifetime
{
    // Longer than the pause and the restore together: the call must outlive the edge's absence.
    private const int GraceSeconds = 45;
    private LocalCluster.Cluster _cluster = null!;

    public async Task InitializeAsync() =>
        _cluster = await LocalCluster.Cluster.StartSplitAsync(2, 2, adminKey: Admin.DefaultKey, extra: [.. LoadSettings.NoCallQuotas, $"--Calls:DisconnectGraceSeconds={GraceSeconds}"]);

    public async Task DisposeAsync() => await _cluster.DisposeAsync();

    [Fact]
    public async Task An_edge_back_from_a_pause_past_its_lease_restores_its_devices_and_its_calls_go_on()
    {
        var (paused, other) = (_cluster.Hosts[1], _cluster.Hosts[0]);
        using var admin = new Admin(other.Url);
        var users = await admin.UsersAsync(2, "pause");
        await using var a = await WsClient.ConnectAsync(other.Url, users[0].Uid, users[0].Token, "dev");
        await using var b = await WsClient.ConnectAsync(paused.Url, users[1].Uid, users[1].Token, "dev");
        var call = await a.CallAsync(b.Uid, 60);
        await b.EventAsync(0, "incomingCallReceived");
        Assert.True((await b.RequestAsync("acceptCall", new { sessionId = call.SessionId() })).IsOk());

        var clock = Stopwatch.StartNew();
        Signals.Pause(paused.Pid);
        try
        {
            // The lease lapses and the cluster drops the device: the user grain holds none.
            await Eventually.Async(async () => (await DevicesAsync(admin, b.Uid)).Count == 0, "the paused edge's device dropped", TimeSpan.FromSeconds(40));
            output.WriteLine($"device dropped {clock.Elapsed.TotalSeconds:F1} s into the pause");
        }
        finally
        {
            Signals.Resume(paused.Pid);
        }

        var resumed = clock.Elapsed;
        await Eventually.Async(async () => (await DevicesAsync(admin, b.Uid)).SequenceEqual(["dev"]), "the device restored", TimeSpan.FromSeconds(30));
        output.WriteLine($"device restored {(clock.Elapsed - resumed).TotalSeconds:F1} s after the edge went on");

        // The socket never closed, and the call goes on both ways through the edge that was away.
        Assert.Null(b.CloseStatus);
        Assert.True((await a.RequestAsync("signal", new { sessionId = call.SessionId(), to = b.Uid, data = new { type = "offer" } })).IsOk());
        await Eventually.Async(() => Task.FromResult(b.EventNames.Contains("signal")), "the signal reached the edge that was away", TimeSpan.FromSeconds(15));
        Assert.Equal("ended", (await b.RequestAsync("endCall", new { sessionId = call.SessionId() })).Status());
        await Eventually.Async(() => Task.FromResult(a.EventNames.Contains("callEndedMessageReceived")), "the other party told the call ended", TimeSpan.FromSeconds(15));

        // And the user on it can be called there again.
        var again = await a.CallAsync(b.Uid, 60);
        Assert.True(again.IsOk(), again.ToString());
        await Eventually.Async(() => Task.FromResult(b.EventNames.Count(e => e == "incomingCallReceived") == 2), "the new call rang on the restored socket", TimeSpan.FromSeconds(15));
    }

    private static async Task<List<string>> DevicesAsync(Admin admin, string uid)
    {
        using var response = await admin.SendAsync(HttpMethod.Get, $"/v1/users/{uid}/state");
        response.EnsureSuccessStatusCode();
        using var state = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return [.. state.RootElement.GetProperty("devices").EnumerateArray().Select(d => d.GetProperty("deviceId").GetString()!)];
    }
}
