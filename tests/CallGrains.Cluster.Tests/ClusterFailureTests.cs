using System.Diagnostics;
using System.Text.Json;
using CallGrains.Gateway.Tests;
using Xunit.Abstractions;

namespace CallGrains.Cluster.Tests;

/// <summary>
/// A production-shaped cluster of real processes: redis-server and three hosts with Redis membership, state and
/// indexes. Each test gets a fresh cluster and stops every process by PID.
/// </summary>
public sealed class ClusterFailureTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const int RingSeconds = 12;
    private LocalCluster.Cluster _cluster = null!;

    // Longer than everything the restart test allows a full restart (3 stops of up to 30 s, 90 s to be healthy, 90 s
    // to form): calls survive a restart only within the grace, and a slow machine once took over 60 s (a fresh clone's
    // first run) and the call had rightly ended. No test here relies on the grace running out.
    public async Task InitializeAsync() =>
        _cluster = await LocalCluster.Cluster.StartAsync(3, adminKey: Admin.DefaultKey, extra: [.. LocalCluster.LoadSettings.NoCallQuotas, "--Calls:DisconnectGraceSeconds=300"]);

    public async Task DisposeAsync() => await _cluster.DisposeAsync();

    [Fact]
    public async Task Kill_9_of_one_silo_loses_no_call_and_leaves_nobody_busy()
    {
        var (victim, survivors) = (_cluster.Hosts[2], _cluster.Hosts.Take(2).ToArray());
        using var admin = new Admin(survivors[0].Url);
        var users = await admin.UsersAsync(34);
        var clients = new Dictionary<string, WsClient>();
        var onVictim = new HashSet<string>();
        async Task<WsClient> Connect(int i, bool victimSide)
        {
            var host = victimSide ? victim : survivors[i % 2];
            var client = await WsClient.ConnectAsync(host.Url, users[i].Uid, users[i].Token, "dev");
            clients[users[i].Uid] = client;
            if (victimSide)
            {
                onVictim.Add(users[i].Uid);
            }

            return client;
        }

        // Six ringing and six ongoing calls; in half of each the caller's socket is on the victim, in the other
        // half the callee's. Grains land anywhere, so some of the calls' grains die with the victim too.
        var ringing = new List<string>();
        var ongoing = new List<(string SessionId, string A, string B)>();
        for (var p = 0; p < 12; p++)
        {
            var caller = await Connect(2 * p, victimSide: p % 2 == 0);
            var callee = await Connect((2 * p) + 1, victimSide: p % 2 == 1);
            var call = await caller.CallAsync(callee.Uid, RingSeconds);
            Assert.True(call.IsOk());
            if (p < 6)
            {
                ringing.Add(call.SessionId());
            }
            else
            {
                Assert.True((await callee.RequestAsync("acceptCall", new { sessionId = call.SessionId() })).IsOk());
                ongoing.Add((call.SessionId(), caller.Uid, callee.Uid));
            }
        }

        // Two group calls of five, members on both sides of the kill: one ongoing (two joined, two still ringing,
        // the initiator on the victim), one nobody answered yet (its initiator on a survivor).
        var groups = new List<(string Guid, string SessionId, string[] Members)>();
        for (var g = 0; g < 2; g++)
        {
            var members = Enumerable.Range(24 + (5 * g), 5).ToArray();
            var guid = $"team-{g}-{Guid.NewGuid():N}";
            using var created = await admin.SendAsync(HttpMethod.Post, "/v1/groups", new { guid, name = $"Team {g}", members = members.Select(i => users[i].Uid).ToArray() });
            Assert.Equal(System.Net.HttpStatusCode.Created, created.StatusCode);
            foreach (var (i, n) in members.Select((i, n) => (i, n)))
            {
                await Connect(i, victimSide: (n + g) % 2 == 0);
            }

            var initiator = clients[users[members[0]].Uid];
            var started = await initiator.RequestAsync("initiateCall", new { receiverId = guid, receiverType = "group", callType = "video", timeoutSeconds = RingSeconds });
            Assert.True(started.IsOk(), started.ToString());
            if (g == 0)
            {
                foreach (var i in members[1..3])
                {
                    Assert.Equal("ongoing", (await clients[users[i].Uid].RequestAsync("acceptCall", new { sessionId = started.SessionId() })).Status());
                }
            }

            groups.Add((guid, started.SessionId(), members.Select(i => users[i].Uid).ToArray()));
        }

        var ringDeadline = DateTime.UtcNow.AddSeconds(RingSeconds);
        var clock = Stopwatch.StartNew();
        await victim.KillAsync();

        // Clients of the dead gateway see their sockets drop and reconnect to a surviving gateway.
        foreach (var uid in onVictim)
        {
            await clients[uid].WaitClosedAsync(TimeSpan.FromSeconds(30));
            await clients[uid].DisposeAsync();
        }

        foreach (var uid in onVictim)
        {
            clients[uid] = await ReconnectAsync(survivors[0].Url, uid, users.Single(u => u.Uid == uid).Token);
        }

        // Ongoing calls kept their state: each party finds the call in welcome and can signal the other.
        foreach (var (sessionId, a, b) in ongoing)
        {
            foreach (var uid in new[] { a, b }.Where(onVictim.Contains))
            {
                var active = clients[uid].Welcome.GetProperty("activeCall");
                Assert.Equal(sessionId, active.Str("sessionId"));
                Assert.Equal("ongoing", active.Str("status"));
            }

            await EventuallyOkAsync(() => clients[a].RequestAsync("signal", new { sessionId, to = b, data = new { ice = "x" } }));
        }

        var usable = clock.Elapsed;
        output.WriteLine($"kill -9 to every ongoing call usable again (reconnected, signalling): {usable.TotalSeconds:F1} s");

        // Ringing calls still become unanswered, also those whose grains were on the dead silo.
        foreach (var sessionId in ringing)
        {
            await Eventually.Async(async () => await StatusAsync(admin, sessionId, users) == "unanswered", $"call {sessionId} unanswered", TimeSpan.FromSeconds(RingSeconds + 30));
        }

        // The group call nobody answered ends unanswered; in the ongoing one those still ringing stop, the rest go on.
        var (_, unansweredGroup, quietMembers) = groups[1];
        await Eventually.Async(async () => await StatusAsync(admin, unansweredGroup, users) == "unanswered", "group call unanswered", TimeSpan.FromSeconds(RingSeconds + 30));
        var (_, liveGroup, liveMembers) = groups[0];
        foreach (var uid in liveMembers[3..])
        {
            await Eventually.Async(async () => (await clients[uid].RequestAsync("sync")).GetProperty("ringing").GetArrayLength() == 0, $"{uid} stopped ringing", TimeSpan.FromSeconds(30));
        }

        foreach (var uid in liveMembers[..3])
        {
            var active = (await clients[uid].RequestAsync("sync")).GetProperty("activeCall");
            Assert.Equal((liveGroup, "ongoing"), (active.Str("sessionId"), active.Str("status")));
        }

        var settled = DateTime.UtcNow - ringDeadline;
        output.WriteLine($"ringing calls unanswered at most {settled.TotalSeconds:F1} s after their deadline (kill at {RingSeconds} s before it)");
        Assert.True(usable < TimeSpan.FromSeconds(30), $"calls usable only after {usable.TotalSeconds:F1} s");
        Assert.True(settled < TimeSpan.FromSeconds(20), $"ringing calls settled {settled.TotalSeconds:F1} s after the deadline");

        // Nobody stays busy: end the ongoing calls, then everyone is free and can call again.
        foreach (var (sessionId, a, _) in ongoing)
        {
            Assert.Equal("ended", (await clients[a].RequestAsync("endCall", new { sessionId })).Status());
        }

        // A member of the unanswered group can be called at once (whichever side of the kill they were on), and the
        // members of the live group call hear its end from the initiator (reconnected if it was on the victim).
        foreach (var uid in quietMembers[1..3])
        {
            var call = await clients[users[0].Uid].CallAsync(uid);
            Assert.True(call.IsOk(), call.ToString());
            Assert.Equal("cancelled", (await clients[users[0].Uid].RequestAsync("rejectCall", new { sessionId = call.SessionId(), status = "cancelled" })).Status());
        }

        var before = liveMembers[1..3].ToDictionary(uid => uid, uid => clients[uid].EventNames.Count);
        Assert.Equal("ended", (await clients[liveMembers[0]].RequestAsync("endCall", new { sessionId = liveGroup })).Status());
        foreach (var uid in liveMembers[1..3])
        {
            await Eventually.Async(() => Task.FromResult(clients[uid].EventNames.Skip(before[uid]).Contains("callEndedMessageReceived")), $"{uid} told the group call ended", TimeSpan.FromSeconds(15));
        }

        foreach (var (uid, client) in clients)
        {
            await Eventually.Async(async () =>
            {
                var sync = await client.RequestAsync("sync");
                return sync.GetProperty("activeCall").ValueKind == JsonValueKind.Null && sync.GetProperty("ringing").GetArrayLength() == 0;
            }, $"{uid} free", TimeSpan.FromSeconds(15));
        }

        var again = await clients[users[0].Uid].CallAsync(users[1].Uid);
        Assert.True(again.IsOk(), again.ToString());
        foreach (var client in clients.Values)
        {
            await client.DisposeAsync();
        }
    }

    [Fact]
    public async Task Restarting_every_silo_keeps_users_tokens_and_ongoing_calls()
    {
        using var admin = new Admin(_cluster.Hosts[0].Url);
        var users = await admin.UsersAsync(2);
        var a = await WsClient.ConnectAsync(_cluster.Hosts[0].Url, users[0].Uid, users[0].Token, "a");
        var b = await WsClient.ConnectAsync(_cluster.Hosts[1].Url, users[1].Uid, users[1].Token, "b");
        var call = await a.CallAsync(b.Uid);
        Assert.True((await b.RequestAsync("acceptCall", new { sessionId = call.SessionId() })).IsOk());

        foreach (var host in _cluster.Hosts)
        {
            await host.StopAsync(TimeSpan.FromSeconds(30));
        }

        Assert.Equal((System.Net.WebSockets.WebSocketCloseStatus)1012, await a.WaitClosedAsync());
        await a.DisposeAsync();
        await b.DisposeAsync();
        foreach (var host in _cluster.Hosts)
        {
            host.Restart();
        }

        await Task.WhenAll(_cluster.Hosts.Select(h => h.WaitHealthyAsync(TimeSpan.FromSeconds(90))));
        await _cluster.WaitFormedAsync(TimeSpan.FromSeconds(90));

        using (var read = await admin.SendAsync(HttpMethod.Get, $"/v1/users/{users[0].Uid}"))
        {
            Assert.Equal(System.Net.HttpStatusCode.OK, read.StatusCode);
        }

        // The old tokens still work, and both find their call where it was.
        await using var a2 = await ReconnectAsync(_cluster.Hosts[2].Url, users[0].Uid, users[0].Token);
        await using var b2 = await ReconnectAsync(_cluster.Hosts[0].Url, users[1].Uid, users[1].Token);
        Assert.Equal(call.SessionId(), a2.Welcome.GetProperty("activeCall").Str("sessionId"));
        Assert.Equal("ongoing", b2.Welcome.GetProperty("activeCall").Str("status"));
        Assert.Equal("ended", (await a2.RequestAsync("endCall", new { sessionId = call.SessionId() })).Status());
        var ended = await b2.EventAsync(0, "callEndedMessageReceived");
        Assert.Equal(call.SessionId(), ended.SessionId());
    }

    [Fact]
    public async Task A_redis_restart_under_load_gives_clear_errors_and_the_cluster_recovers_by_itself()
    {
        using var admin = new Admin(_cluster.Hosts[0].Url);
        var users = await admin.UsersAsync(16);
        var pairs = new List<(WsClient Caller, WsClient Callee)>();
        for (var p = 0; p < 8; p++)
        {
            pairs.Add((
                await WsClient.ConnectAsync(_cluster.Hosts[p % 3].Url, users[2 * p].Uid, users[2 * p].Token, "d"),
                await WsClient.ConnectAsync(_cluster.Hosts[(p + 1) % 3].Url, users[(2 * p) + 1].Uid, users[(2 * p) + 1].Token, "d")));
        }

        var errors = new System.Collections.Concurrent.ConcurrentBag<string>();
        long completed = 0;
        long completedAfterRestart = 0;
        var restarted = false;
        using var stop = new CancellationTokenSource();
        async Task LoadAsync(WsClient caller, WsClient callee)
        {
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    var call = await caller.CallAsync(callee.Uid, 10);
                    if (!call.IsOk())
                    {
                        errors.Add(call.ErrorCode());
                        await Task.Delay(200);
                        continue;
                    }

                    var accept = await callee.RequestAsync("acceptCall", new { sessionId = call.SessionId() });
                    var end = await caller.RequestAsync(accept.IsOk() ? "endCall" : "rejectCall", accept.IsOk() ? new { sessionId = call.SessionId() } : new { sessionId = call.SessionId(), status = "cancelled" } as object);
                    if (!accept.IsOk() || !end.IsOk())
                    {
                        errors.Add(accept.IsOk() ? end.ErrorCode() : accept.ErrorCode());
                        await Task.Delay(200);
                        continue;
                    }

                    Interlocked.Increment(ref completed);
                    if (Volatile.Read(ref restarted))
                    {
                        Interlocked.Increment(ref completedAfterRestart);
                    }
                }
                catch (TimeoutException)
                {
                    errors.Add("timeout");
                }
            }
        }

        var load = pairs.Select(p => Task.Run(() => LoadAsync(p.Caller, p.Callee))).ToArray();
        // Load is flowing before Redis goes: some calls complete (a fixed 2 s was not enough on a machine at load 26,
        // where the first calls of 16 fresh sockets took longer).
        await Eventually.Async(() => Task.FromResult(Interlocked.Read(ref completed) >= 8), "calls complete before the restart", TimeSpan.FromSeconds(60));
        var before = Interlocked.Read(ref completed);
        await _cluster.Redis.RestartAsync(TimeSpan.FromSeconds(3));
        Volatile.Write(ref restarted, true);
        var clock = Stopwatch.StartNew();
        await Eventually.Async(() => Task.FromResult(Interlocked.Read(ref completedAfterRestart) >= 20), "calls complete again after Redis is back", TimeSpan.FromSeconds(60));
        output.WriteLine($"Redis back to 20 calls completed: {clock.Elapsed.TotalSeconds:F1} s; before {before}, errors {string.Join(",", errors.GroupBy(e => e).Select(g => $"{g.Key}x{g.Count()}"))}");
        await stop.CancelAsync();
        await Task.WhenAll(load);

        // While Redis was down, requests failed with a clear error rather than hanging or half-succeeding.
        Assert.True(before > 0);
        Assert.NotEmpty(errors);
        Assert.All(errors, e => Assert.Contains(e, new[] { "ERR_INTERNAL", "ERR_CALL_BUSY", "ERR_CALL_ALREADY_INITIATED", "ERROR_CALL_IN_PROGRESS", "ERR_CALL_ALREADY_JOINED", "ERR_CALL_UNANSWERED", "ERR_CALL_ENDED", "ERR_CALL_CANCELLED" }));

        // Nothing half-done: whatever each user still holds is a live call the other party holds too; once those
        // are hung up, everyone is free and can call again.
        foreach (var (caller, callee) in pairs)
        {
            await Eventually.Async(async () =>
            {
                var mine = await caller.RequestAsync("sync");
                var theirs = await callee.RequestAsync("sync");
                var held = mine.GetProperty("activeCall");
                if (held.ValueKind == JsonValueKind.Object)
                {
                    var other = theirs.GetProperty("activeCall").ValueKind == JsonValueKind.Object ? theirs.GetProperty("activeCall") : theirs.GetProperty("ringing").EnumerateArray().FirstOrDefault();
                    if (other.ValueKind != JsonValueKind.Object || other.Str("sessionId") != held.Str("sessionId"))
                    {
                        output.WriteLine($"{caller.Uid} holds {held} but {callee.Uid} has {theirs}");
                        return false;
                    }

                    await caller.RequestAsync("endCall", new { sessionId = held.Str("sessionId") });
                    return false;
                }

                var free = theirs.GetProperty("activeCall").ValueKind == JsonValueKind.Null && theirs.GetProperty("ringing").GetArrayLength() == 0;
                if (!free)
                {
                    output.WriteLine($"{callee.Uid} holds {theirs} while {caller.Uid} holds nothing");
                }

                return free;
            }, $"{caller.Uid} and {callee.Uid} consistent and free", TimeSpan.FromSeconds(30));
            var fresh = await caller.CallAsync(callee.Uid);
            Assert.True(fresh.IsOk(), fresh.ToString());
            Assert.True((await caller.RequestAsync("rejectCall", new { sessionId = fresh.SessionId(), status = "cancelled" })).IsOk());
        }

        foreach (var (caller, callee) in pairs)
        {
            await caller.DisposeAsync();
            await callee.DisposeAsync();
        }
    }

    private static async Task<WsClient> ReconnectAsync(Uri url, string uid, string token)
    {
        var deadline = DateTime.UtcNow.AddSeconds(45);
        while (true)
        {
            try
            {
                return await WsClient.ConnectAsync(url, uid, token, "dev");
            }
            catch (Exception ex) when (ex is System.Net.WebSockets.WebSocketException or InvalidOperationException or TimeoutException && DateTime.UtcNow < deadline)
            {
                await Task.Delay(250);
            }
        }
    }

    private static async Task<string?> StatusAsync(Admin admin, string sessionId, (string Uid, string Token)[] users)
    {
        foreach (var (_, token) in users)
        {
            using var response = await admin.SendAsync(HttpMethod.Get, $"/v1/calls/{sessionId}", apiKey: null, bearer: token);
            if (response.IsSuccessStatusCode)
            {
                using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
                return body.RootElement.GetProperty("call").Str("status");
            }
        }

        return null;
    }

    private static async Task EventuallyOkAsync(Func<Task<JsonElement>> request)
    {
        await Eventually.Async(async () => (await request()).IsOk(), "request ok", TimeSpan.FromSeconds(30));
    }
}
