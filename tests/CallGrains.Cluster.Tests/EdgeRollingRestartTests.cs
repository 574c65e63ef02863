using System.Collections.Concurrent;
using System.Text.Json;
using CallGrains.Gateway.Tests;
using CallGrains.LocalCluster;
using Xunit.Abstractions;

namespace CallGrains.Cluster.Tests;

/// <summary>
/// The split shape's promise: every silo is restarted, one after the other, under steady calling, while the edges keep
/// every client socket open. Real processes: redis-server, 2 silos, 2 edges. The sockets' message rate limit is raised:
/// it is not what this measures, and a fast machine once reached it (a refused endCall then kept a pair busy).
/// </summary>
public sealed class EdgeRollingRestartTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const int Pairs = 3;
    private static readonly TimeSpan Answer = TimeSpan.FromSeconds(20);
    private LocalCluster.Cluster _cluster = null!;

    public async Task InitializeAsync() =>
        _cluster = await LocalCluster.Cluster.StartSplitAsync(2, 2, adminKey: Admin.DefaultKey, extra: [.. LoadSettings.NoCallQuotas, "--Calls:DisconnectGraceSeconds=120", "--Gateway:MessagesPerSecond=1000", "--Gateway:MessageBurst=2000"]);

    public async Task DisposeAsync() => await _cluster.DisposeAsync();

    [Fact]
    public async Task Restarting_every_silo_under_load_closes_no_socket_on_the_edges_and_leaves_nobody_busy()
    {
        var (edge0, edge1) = (_cluster.Hosts[0], _cluster.Hosts[1]);
        using var admin = new Admin(edge0.Url);
        var users = await admin.UsersAsync((2 * Pairs) + 2, "roll");
        var clients = new List<WsClient>();
        try
        {
            for (var i = 0; i < users.Length; i++)
            {
                clients.Add(await WsClient.ConnectAsync((i % 2 == 0 ? edge0 : edge1).Url, users[i].Uid, users[i].Token, "dev"));
            }

            // A call in progress across the edges before the restarts, to go on after them.
            var (keepA, keepB) = (clients[^2], clients[^1]);
            var kept = await keepA.CallAsync(keepB.Uid, 60);
            Assert.True((await keepB.RequestAsync("acceptCall", new { sessionId = kept.SessionId() })).IsOk());

            // Steady load: each pair rings, answers and ends calls, caller on one edge and callee on the other.
            var outcomes = new ConcurrentDictionary<string, int>();
            using var stop = new CancellationTokenSource();
            var load = Enumerable.Range(0, Pairs).Select(p => Task.Run(() => CycleAsync(clients[2 * p], clients[(2 * p) + 1], outcomes, stop.Token))).ToList();
            await Task.Delay(TimeSpan.FromSeconds(3));

            foreach (var silo in _cluster.Silos)
            {
                var before = outcomes.GetValueOrDefault("ok");
                await silo.StopAsync(TimeSpan.FromSeconds(30));
                silo.Restart();
                await silo.WaitHealthyAsync(TimeSpan.FromSeconds(90));

                // As a rolling update does: the next one goes once this one is ready and has taken work.
                await Task.Delay(TimeSpan.FromSeconds(8));
                output.WriteLine($"silo {silo.HttpPort} restarted; calls completed meanwhile: {outcomes.GetValueOrDefault("ok") - before}");
            }

            var okBefore = outcomes.GetValueOrDefault("ok");
            await Eventually.Async(() => Task.FromResult(outcomes.GetValueOrDefault("ok") >= okBefore + Pairs), "calls complete after the last restart", TimeSpan.FromSeconds(60));
            await stop.CancelAsync();
            await Task.WhenAll(load);
            output.WriteLine($"outcomes: {string.Join(", ", outcomes.OrderBy(o => o.Key).Select(o => $"{o.Key} {o.Value}"))}");

            // At most ERR_INTERNAL during the switch: no other refusal, no request left unanswered.
            Assert.All(outcomes.Keys, k => Assert.Contains(k, new[] { "ok", "ERR_INTERNAL" }));

            // No socket on the edges closed.
            Assert.All(clients, c => Assert.Null(c.CloseStatus));

            // The call in progress went on: it carries a signal, then ends and its other party is told.
            Assert.True((await keepA.RequestAsync("signal", new { sessionId = kept.SessionId(), to = keepB.Uid, data = new { type = "offer" } })).IsOk());
            await Eventually.Async(() => Task.FromResult(keepB.EventNames.Contains("signal")), "the kept call's signal arrived", TimeSpan.FromSeconds(15));
            Assert.Equal("ended", (await keepA.RequestAsync("endCall", new { sessionId = kept.SessionId() })).Status());

            // Nobody stays busy: whatever a failed step left is ended or times out, then every pair calls again.
            foreach (var client in clients)
            {
                await Eventually.Async(async () => await FreeAsync(client), $"{client.Uid} free", TimeSpan.FromSeconds(60));
            }

            for (var p = 0; p < Pairs; p++)
            {
                var again = await clients[2 * p].CallAsync(clients[(2 * p) + 1].Uid, 30);
                Assert.True(again.IsOk(), again.ToString());
                Assert.Equal("cancelled", (await clients[2 * p].RequestAsync("rejectCall", new { sessionId = again.SessionId(), status = "cancelled" })).Status());
            }
        }
        finally
        {
            foreach (var client in clients)
            {
                await client.DisposeAsync();
            }
        }
    }

    /// <summary>Ring, answer, end, over and over (bounded), counting each step's outcome.</summary>
    private async Task CycleAsync(WsClient caller, WsClient callee, ConcurrentDictionary<string, int> outcomes, CancellationToken stop)
    {
        for (var n = 0; n < 10_000 && !stop.IsCancellationRequested; n++)
        {
            var call = await Step(caller, "initiateCall", new { receiverId = callee.Uid, receiverType = "user", callType = "audio", timeoutSeconds = 10 });
            if (call is not { } started)
            {
                await Task.Delay(200, CancellationToken.None);
                continue;
            }

            var sessionId = started.SessionId();
            if (await Step(callee, "acceptCall", new { sessionId }) is null)
            {
                await Step(caller, "rejectCall", new { sessionId, status = "cancelled" });
                continue;
            }

            if (await Step(caller, "endCall", new { sessionId }) is null)
            {
                // Whatever the failed step left ongoing is ended before the next call (bounded: one attempt).
                await caller.TryRequestAsync("endCall", new { sessionId }, Answer);
                continue;
            }

            outcomes.AddOrUpdate("ok", 1, (_, v) => v + 1);

            // Paced, so the load is steady rather than as fast as a free machine allows.
            await Task.Delay(10, CancellationToken.None);
        }

        async Task<JsonElement?> Step(WsClient client, string op, object args)
        {
            var answer = await client.TryRequestAsync(op, args, Answer);
            var outcome = answer is not { } a ? "no answer" : a.IsOk() ? null : a.ErrorCode();
            if (outcome is not null)
            {
                output.WriteLine($"{op} of {client.Uid}: {outcome}");
                outcomes.AddOrUpdate(outcome, 1, (_, v) => v + 1);
                return null;
            }

            return answer;
        }
    }

    /// <summary>Free: nothing in the user's slots; a call left ongoing by a failed step is ended here.</summary>
    private static async Task<bool> FreeAsync(WsClient client)
    {
        var sync = await client.RequestAsync("sync");
        if (sync.GetProperty("activeCall") is { ValueKind: JsonValueKind.Object } active)
        {
            await client.TryRequestAsync("endCall", new { sessionId = active.Str("sessionId") }, Answer);
            return false;
        }

        return sync.GetProperty("ringing").GetArrayLength() == 0;
    }
}
