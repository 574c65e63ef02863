using System.Diagnostics;
using CallGrains.Gateway.Tests;
using Xunit.Abstractions;

namespace CallGrains.Cluster.Tests;

/// <summary>
/// The split shape on real processes: redis-server, two grains-only silos and two edge gateways (Orleans clients).
/// An edge is not in silo membership, so its death is found by its lease lapsing.
/// </summary>
public sealed class EdgeFailureTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const int GraceSeconds = 5;
    private LocalCluster.Cluster _cluster = null!;

    public async Task InitializeAsync() =>
        _cluster = await LocalCluster.Cluster.StartSplitAsync(2, 2, adminKey: Admin.DefaultKey, extra: [.. LocalCluster.LoadSettings.NoCallQuotas, $"--Calls:DisconnectGraceSeconds={GraceSeconds}"]);

    public async Task DisposeAsync() => await _cluster.DisposeAsync();

    [Fact]
    public async Task Kill_9_of_an_edge_frees_its_users_and_tells_their_peers_on_the_other_edge()
    {
        var (victim, survivor) = (_cluster.Hosts[1], _cluster.Hosts[0]);
        using var admin = new Admin(survivor.Url);
        var users = await admin.UsersAsync(16, "edge");
        var peers = new List<WsClient>();
        var onVictim = new List<WsClient>();
        var ongoing = new List<(string SessionId, WsClient Peer)>();
        try
        {
            // Four ongoing calls and two ringing ones between the edges: in half the caller is on the victim.
            for (var p = 0; p < 6; p++)
            {
                var callerOnVictim = p % 2 == 0;
                var caller = await WsClient.ConnectAsync((callerOnVictim ? victim : survivor).Url, users[2 * p].Uid, users[2 * p].Token, "dev");
                var callee = await WsClient.ConnectAsync((callerOnVictim ? survivor : victim).Url, users[(2 * p) + 1].Uid, users[(2 * p) + 1].Token, "dev");
                (callerOnVictim ? onVictim : peers).Add(caller);
                (callerOnVictim ? peers : onVictim).Add(callee);
                var call = await caller.CallAsync(callee.Uid, 120);
                Assert.True(call.IsOk(), call.ToString());
                await callee.EventAsync(0, "incomingCallReceived");
                if (p < 4)
                {
                    Assert.True((await callee.RequestAsync("acceptCall", new { sessionId = call.SessionId() })).IsOk());
                    ongoing.Add((call.SessionId(), callerOnVictim ? callee : caller));
                }
            }

            // A bystander pair on the surviving edge, in a call of their own: nothing of this may touch them.
            var x = await WsClient.ConnectAsync(survivor.Url, users[12].Uid, users[12].Token, "dev");
            var y = await WsClient.ConnectAsync(survivor.Url, users[13].Uid, users[13].Token, "dev");
            peers.AddRange([x, y]);
            var theirs = await x.CallAsync(y.Uid, 120);
            Assert.True((await y.RequestAsync("acceptCall", new { sessionId = theirs.SessionId() })).IsOk());

            var clock = Stopwatch.StartNew();
            await victim.KillAsync();

            // Their peers on the surviving edge are told the ongoing calls ended: the victims never come back.
            var told = new List<double>();
            foreach (var (sessionId, peer) in ongoing)
            {
                await Eventually.Async(
                    () => Task.FromResult(peer.Events.Any(e => e.Str("event") == "callEndedMessageReceived" && e.SessionId() == sessionId)),
                    $"{peer.Uid} told that call {sessionId} ended",
                    TimeSpan.FromSeconds(60));
                told.Add(clock.Elapsed.TotalSeconds);
            }

            var bound = GraceSeconds + EdgeBoundSeconds + 5;
            output.WriteLine($"kill -9 of an edge to every peer told: max {told.Max():F1} s, median {told.Order().ElementAt(told.Count / 2):F1} s (bound {bound} s: grace {GraceSeconds} + lease {EdgeBoundSeconds} + 5)");
            Assert.True(told.Max() < bound + 15, $"peers told only after {told.Max():F1} s");

            // Nobody stays busy: every victim can be called at once (it rings, no ERR_CALL_BUSY), from the other edge.
            var caller2 = peers[^1];
            Assert.Equal("ended", (await x.RequestAsync("endCall", new { sessionId = theirs.SessionId() })).Status());
            foreach (var gone in onVictim)
            {
                var call = await caller2.CallAsync(gone.Uid, 60);
                Assert.True(call.IsOk(), $"{gone.Uid}: {call}");
                Assert.Equal("cancelled", (await caller2.RequestAsync("rejectCall", new { sessionId = call.SessionId(), status = "cancelled" })).Status());
            }

            // The surviving edge kept every socket.
            Assert.All(peers, p => Assert.Null(p.CloseStatus));
        }
        finally
        {
            foreach (var client in peers.Concat(onVictim))
            {
                await client.DisposeAsync();
            }
        }
    }

    // The lease's time to live, plus a second each for the silos' copy of the leases and the presence sweep.
    private static int EdgeBoundSeconds => (int)Abstractions.EdgeLeases.Ttl.TotalSeconds + 2;
}
