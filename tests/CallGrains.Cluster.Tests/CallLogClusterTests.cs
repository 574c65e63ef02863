using System.Net;
using System.Text.Json;
using CallGrains.Gateway.Tests;
using StackExchange.Redis;
using Xunit.Abstractions;

namespace CallGrains.Cluster.Tests;

/// <summary>
/// Call history on the production-shaped cluster (redis-server and three host processes): what users read in
/// <c>GET /v1/calls</c> survives restarts and crashes, and leaves Redis after the retention.
/// </summary>
public sealed class CallLogClusterTests(ITestOutputHelper output) : IAsyncLifetime
{
    private LocalCluster.Cluster? _cluster;

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        if (_cluster is not null)
        {
            await _cluster.DisposeAsync();
        }
    }

    [Fact]
    public async Task History_survives_a_restart_of_every_host()
    {
        var cluster = await StartAsync();
        using var admin = new Admin(cluster.Hosts[0].Url);
        var users = await admin.UsersAsync(2, "keep");
        string[] ids;
        await using (var a = await WsClient.ConnectAsync(cluster.Hosts[0].Url, users[0].Uid, users[0].Token, "a"))
        await using (var b = await WsClient.ConnectAsync(cluster.Hosts[1].Url, users[1].Uid, users[1].Token, "b"))
        {
            var ended = await RingAsync(a, b.Uid);
            Ok(await b.RequestAsync("acceptCall", new { sessionId = ended }));
            Ok(await a.RequestAsync("endCall", new { sessionId = ended }));
            var cancelled = await RingAsync(a, b.Uid);
            Ok(await a.RequestAsync("rejectCall", new { sessionId = cancelled, status = "cancelled" }));
            ids = [cancelled, ended];
            await ListedAsync(admin, users[1].Token, ids, TimeSpan.FromSeconds(30));
        }

        foreach (var host in cluster.Hosts)
        {
            await host.StopAsync(TimeSpan.FromSeconds(30));
        }

        foreach (var host in cluster.Hosts)
        {
            host.Restart();
        }

        await Task.WhenAll(cluster.Hosts.Select(h => h.WaitHealthyAsync(TimeSpan.FromSeconds(90))));
        await cluster.WaitFormedAsync(TimeSpan.FromSeconds(90));

        using var after = new Admin(cluster.Hosts[2].Url);
        var byCallee = await LogAsync(after, users[1].Token);
        var byCaller = await LogAsync(after, users[0].Token);
        Assert.Equal(ids, byCallee.Select(c => c.Str("sessionId")));
        Assert.Equal(ids, byCaller.Select(c => c.Str("sessionId")));
        Assert.Equal(["cancelled", "ended"], byCallee.Select(c => c.Str("status")));
        Assert.Equal([true, false], byCallee.Select(c => c.GetProperty("missed").GetBoolean()));
        Assert.All(byCaller, c => Assert.Equal("outgoing", c.Str("direction")));

        // The settled calls still answer: read by id, and a late request gets the error of the call's state.
        using var read = await after.SendAsync(HttpMethod.Get, $"/v1/calls/{ids[1]}", apiKey: null, bearer: users[1].Token);
        Assert.Equal(HttpStatusCode.OK, read.StatusCode);
        await using var b2 = await WsClient.ConnectAsync(cluster.Hosts[2].Url, users[1].Uid, users[1].Token, "b2");
        Assert.Equal("ERR_CALL_ENDED", (await b2.RequestAsync("acceptCall", new { sessionId = ids[1] })).ErrorCode());
        Assert.Equal("ERR_CALL_CANCELLED", (await b2.RequestAsync("rejectCall", new { sessionId = ids[0], status = "rejected" })).ErrorCode());
    }

    [Fact]
    public async Task A_host_killed_as_calls_settle_loses_no_history_entry()
    {
        // A short grace: a call whose end request died with the host is ended by the grace and logged too.
        var cluster = await StartAsync("--Calls:DisconnectGraceSeconds=5");
        var (victim, survivor) = (cluster.Hosts[2], cluster.Hosts[0]);
        using var admin = new Admin(survivor.Url);
        const int Pairs = 12;
        var users = await admin.UsersAsync(2 * Pairs, "kill");

        // Callers on the victim: their call sessions are placed there (on the caller's gateway silo).
        var callers = new List<WsClient>();
        var callees = new List<WsClient>();
        var ids = new List<string>();
        for (var p = 0; p < Pairs; p++)
        {
            callers.Add(await WsClient.ConnectAsync(victim.Url, users[2 * p].Uid, users[2 * p].Token, "c"));
            callees.Add(await WsClient.ConnectAsync(cluster.Hosts[1 + (p % 2 == 0 ? 0 : -1)].Url, users[(2 * p) + 1].Uid, users[(2 * p) + 1].Token, "d"));
            var id = await RingAsync(callers[p], callees[p].Uid);
            Ok(await callees[p].RequestAsync("acceptCall", new { sessionId = id }));
            ids.Add(id);
        }

        // Every call ends at once; the victim dies as soon as the first end is answered, while the others are being
        // stored, delivered and archived.
        var ends = callers.Select((c, p) => c.TryRequestAsync("endCall", new { sessionId = ids[p] }, TimeSpan.FromSeconds(10))).ToList();
        await Task.WhenAny(ends);
        await victim.KillAsync();
        var answered = (await Task.WhenAll(ends)).Count(r => r is { } e && e.IsOk());
        var stored = await StoredSessionsAsync(cluster);
        output.WriteLine($"{answered} of {Pairs} ends answered before the kill; {stored} call sessions still in grain storage at the kill");

        // Both parties of every call find it in their history exactly once, ended, through a surviving host.
        await ListedAsync(admin, users.Select(u => u.Token).ToArray(), ids, TimeSpan.FromSeconds(120));
        for (var i = 0; i < users.Length; i++)
        {
            var log = await LogAsync(admin, users[i].Token);
            var mine = ids[i / 2];
            Assert.Equal(1, log.Count(c => c.Str("sessionId") == mine));
            Assert.Equal("ended", log.Single(c => c.Str("sessionId") == mine).Str("status"));
        }

        // And the sessions left grain storage once archived: nothing of them stays but history.
        await Eventually.Async(async () => await StoredSessionsAsync(cluster) == 0, "archived sessions deleted from grain storage", TimeSpan.FromSeconds(60));
        foreach (var client in callers.Concat(callees))
        {
            await client.DisposeAsync();
        }
    }

    [Fact]
    public async Task With_a_short_retention_history_and_session_state_leave_redis_and_late_requests_still_get_the_right_error()
    {
        var cluster = await StartAsync("--Calls:LogRetention=00:00:10");
        using var admin = new Admin(cluster.Hosts[0].Url);
        var users = await admin.UsersAsync(2, "ret");
        await using var a = await WsClient.ConnectAsync(cluster.Hosts[0].Url, users[0].Uid, users[0].Token, "a");
        await using var b = await WsClient.ConnectAsync(cluster.Hosts[1].Url, users[1].Uid, users[1].Token, "b");
        var ended = await RingAsync(a, b.Uid);
        Ok(await b.RequestAsync("acceptCall", new { sessionId = ended }));
        Ok(await a.RequestAsync("endCall", new { sessionId = ended }));
        var cancelled = await RingAsync(a, b.Uid);
        Ok(await a.RequestAsync("rejectCall", new { sessionId = cancelled, status = "cancelled" }));

        // Settled: out of grain storage at once, in history, and a late request is told the call's state.
        await ListedAsync(admin, users[1].Token, [ended, cancelled], TimeSpan.FromSeconds(8));
        await Eventually.Async(async () => await StoredSessionsAsync(cluster) == 0, "settled sessions deleted from grain storage", TimeSpan.FromSeconds(8));
        Assert.Equal("ERR_CALL_ENDED", (await b.RequestAsync("acceptCall", new { sessionId = ended })).ErrorCode());
        Assert.Equal(2, await CountKeysAsync(cluster, "callgrains:*:call:*"));
        Assert.Equal(2, await CountKeysAsync(cluster, "callgrains:*:log:*"));

        // Past the retention nothing of them is left: no record, no history, and the call is unknown.
        await Eventually.Async(
            async () => await CountKeysAsync(cluster, "callgrains:*:call:*") + await CountKeysAsync(cluster, "callgrains:*:log:*") == 0,
            "records and histories expired",
            TimeSpan.FromSeconds(60));
        Assert.Empty(await LogAsync(admin, users[1].Token));
        Assert.Equal("ERR_CALL_NOT_FOUND", (await b.RequestAsync("acceptCall", new { sessionId = ended })).ErrorCode());
        using var read = await admin.SendAsync(HttpMethod.Get, $"/v1/calls/{cancelled}", apiKey: null, bearer: users[1].Token);
        Assert.Equal(HttpStatusCode.NotFound, read.StatusCode);
        Assert.Equal(0, await StoredSessionsAsync(cluster));
    }

    private async Task<LocalCluster.Cluster> StartAsync(params string[] extra) =>
        _cluster = await LocalCluster.Cluster.StartAsync(3, adminKey: Admin.DefaultKey, extra: [.. LocalCluster.LoadSettings.NoCallQuotas, .. extra]);

    private static async Task<string> RingAsync(WsClient caller, string callee)
    {
        var response = await caller.RequestAsync("initiateCall", new { receiverId = callee, receiverType = "user", callType = "audio", timeoutSeconds = 60 });
        Ok(response);
        return response.SessionId();
    }

    private static void Ok(JsonElement response) =>
        Assert.True(response.IsOk(), response.TryGetProperty("error", out var e) ? e.GetRawText() : "not ok");

    private static async Task<List<JsonElement>> LogAsync(Admin admin, string token) =>
        await TryLogAsync(admin, token) ?? throw new Xunit.Sdk.XunitException("GET /v1/calls failed");

    /// <summary>The user's log, or null while the cluster cannot answer (a user grain on a host that died is unreachable until the host is declared dead).</summary>
    private static async Task<List<JsonElement>?> TryLogAsync(Admin admin, string token)
    {
        using var response = await admin.SendAsync(HttpMethod.Get, "/v1/calls?limit=100", apiKey: null, bearer: token);
        if (response.StatusCode != HttpStatusCode.OK)
        {
            return null;
        }

        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return [.. body.RootElement.GetProperty("calls").EnumerateArray().Select(c => c.Clone())];
    }

    private static Task ListedAsync(Admin admin, string token, IReadOnlyCollection<string> ids, TimeSpan timeout) =>
        ListedAsync(admin, [token], ids, timeout);

    /// <summary>Waits until every one of <paramref name="tokens"/>' users has each of <paramref name="ids"/> that is theirs.</summary>
    private static async Task ListedAsync(Admin admin, string[] tokens, IReadOnlyCollection<string> ids, TimeSpan timeout)
    {
        await Eventually.Async(
            async () =>
            {
                var listed = new HashSet<string>();
                foreach (var token in tokens)
                {
                    if (await TryLogAsync(admin, token) is not { } log)
                    {
                        return false;
                    }

                    listed.UnionWith(log.Select(c => c.Str("sessionId")));
                }

                return ids.All(listed.Contains) && (tokens.Length == 1 || await EachHasTheirsAsync(admin, tokens, ids));
            },
            $"{ids.Count} calls in the history",
            timeout);
    }

    // Users were made in pairs per call (caller, callee): user i's call is ids[i / 2].
    private static async Task<bool> EachHasTheirsAsync(Admin admin, string[] tokens, IReadOnlyCollection<string> ids)
    {
        var list = ids.ToList();
        for (var i = 0; i < tokens.Length; i++)
        {
            if (await TryLogAsync(admin, tokens[i]) is not { } log || !log.Any(c => c.Str("sessionId") == list[i / 2]))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Call sessions with grain state in Redis (Orleans keys <c>{ServiceId}/state/callsession/...</c>).</summary>
    private static Task<int> StoredSessionsAsync(LocalCluster.Cluster cluster) => CountKeysAsync(cluster, "*/state/callsession/*");

    private static async Task<int> CountKeysAsync(LocalCluster.Cluster cluster, string pattern)
    {
        await using var redis = await ConnectionMultiplexer.ConnectAsync(cluster.Redis.ConnectionString);
        var keys = 0;
        await foreach (var _ in redis.GetServer(redis.GetEndPoints()[0]).KeysAsync(pattern: pattern, pageSize: 1000))
        {
            keys++;
        }

        return keys;
    }
}
