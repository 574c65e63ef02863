using System.Net;
using System.Text.Json;

namespace CallGrains.Gateway.Tests;

/// <summary>
/// Two nodes whose calls ring for 2 s by default, so unanswered calls settle quickly, and whose rate limits let one
/// user make hundreds of calls and read hundreds of pages in a few seconds.
/// </summary>
public sealed class ShortRingFixture() : NodePairFixture(
    $"--Calls:RingTimeoutSeconds={RingSeconds}",
    "--Gateway:MessagesPerSecond=10000",
    "--Gateway:MessageBurst=10000",
    "--Gateway:RestRequestsPerSecond=10000",
    "--Gateway:RestBurst=10000")
{
    public const int RingSeconds = 2;
}

/// <summary>
/// PROTOCOL section 8, call logs, over real sockets on a two-node cluster: users make calls of every kind through the
/// WebSocket and read their history with <c>GET /v1/calls</c>, as an app's "recents" screen does.
/// </summary>
public sealed class CallLogTests(ShortRingFixture cluster) : IClassFixture<ShortRingFixture>
{
    [Fact]
    public async Task Paging_by_7_over_250_calls_of_every_kind_skips_and_repeats_nothing_while_calls_arrive()
    {
        var users = await cluster.Admin.UsersAsync(9, "log");
        var me = users[0];
        await using var mine = await WsClient.ConnectAsync(cluster.A, me.Uid, me.Token);
        var peers = new List<WsClient>();
        foreach (var (uid, token) in users.Skip(1))
        {
            peers.Add(await WsClient.ConnectAsync(peers.Count % 2 == 0 ? cluster.B : cluster.A, uid, token));
        }

        try
        {
            var made = new Calls(mine, peers);
            for (var round = 0; made.Expected.Count < 250; round++)
            {
                await made.OneOfEachAsync(round, withUnanswered: round < 2);
            }

            var expected = made.Expected.Take(250).ToDictionary();
            await EventuallyListedAsync(me.Token, expected.Keys);

            // Page by 7 while new calls keep settling: every call made before is listed once, in order, as it ended.
            using var stop = new CancellationTokenSource();
            var arriving = made.KeepCallingAsync(stop.Token);
            List<JsonElement> listed;
            try
            {
                listed = await PagesAsync(me.Token, "limit=7");
            }
            finally
            {
                await stop.CancelAsync();
                await arriving;
            }

            var ids = listed.Select(c => c.Str("sessionId")).ToList();
            Assert.Equal(ids.Count, ids.Distinct().Count());
            Assert.All(expected.Keys, id => Assert.Contains(id, ids));
            var times = listed.Select(c => c.GetProperty("initiatedAt").GetDouble()).ToList();
            Assert.Equal(times.OrderDescending(), times);
            foreach (var call in listed.Where(c => expected.ContainsKey(c.Str("sessionId"))))
            {
                var want = expected[call.Str("sessionId")];
                Assert.Equal(want, Calls.Describe(call));
            }

            Assert.True(made.Arrived > 0, "calls kept arriving while paging");

            // Each filter, paged by 7, lists exactly the calls of its kind among those made before.
            (string Query, Func<Expectation, bool> Matches)[] filters =
            [
                ("status=busy", e => e.Status == "busy"),
                ("status=unanswered", e => e.Status == "unanswered"),
                ("direction=incoming", e => e.Direction == "incoming"),
                ("direction=outgoing&status=ended", e => e.Direction == "outgoing" && e.Status == "ended"),
                ("missed=true", e => e.Missed),
                ("missed=false&callType=video", e => !e.Missed && e.CallType == "video"),
                ("receiverType=user&callType=audio", e => e.CallType == "audio"),
                ("receiverType=group", _ => false),
            ];
            foreach (var (query, matches) in filters)
            {
                var page = (await PagesAsync(me.Token, $"limit=7&{query}")).Select(c => c.Str("sessionId")).ToList();
                Assert.Equal(page.Count, page.Distinct().Count());
                var want = expected.Where(e => matches(e.Value)).Select(e => e.Key).Order().ToList();
                Assert.Equal(want, page.Where(expected.ContainsKey).Order().ToList());
            }

            Assert.Contains(expected.Values, e => e.Missed);
            Assert.Contains(expected.Values, e => e.Status == "busy" && !e.Missed);
        }
        finally
        {
            foreach (var peer in peers)
            {
                await peer.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task Each_way_of_missing_a_call_is_missed_for_the_callee_and_not_for_the_caller()
    {
        var users = await cluster.Admin.UsersAsync(4, "miss");
        await using var caller = await WsClient.ConnectAsync(cluster.A, users[0].Uid, users[0].Token);
        await using var callee = await WsClient.ConnectAsync(cluster.B, users[1].Uid, users[1].Token);
        await using var other = await WsClient.ConnectAsync(cluster.A, users[2].Uid, users[2].Token);

        // Missed: unanswered, cancelled by the caller, refused as busy by the server.
        var unanswered = await Calls.UnansweredAsync(caller, callee);
        var cancelled = await Calls.CancelledAsync(caller, callee);
        var busy = await Calls.ServerBusyAsync(caller, callee, other);

        // Not missed: the callee declined (rejected, or answered busy), or answered.
        var rejected = await Calls.RejectedAsync(caller, callee, "rejected");
        var declined = await Calls.RejectedAsync(caller, callee, "busy");
        var answered = await Calls.EndedAsync(caller, callee);

        string[] all = [unanswered, cancelled, busy, rejected, declined, answered];
        await EventuallyListedAsync(users[1].Token, all);
        await EventuallyListedAsync(users[0].Token, all);
        var byCallee = (await PagesAsync(users[1].Token, "limit=100")).ToDictionary(c => c.Str("sessionId"));
        var byCaller = (await PagesAsync(users[0].Token, "limit=100")).ToDictionary(c => c.Str("sessionId"));
        foreach (var id in all)
        {
            Assert.Equal("incoming", byCallee[id].Str("direction"));
            Assert.Equal("outgoing", byCaller[id].Str("direction"));
            Assert.False(byCaller[id].GetProperty("missed").GetBoolean(), $"{byCaller[id].Str("status")} is not missed by the caller");
        }

        Assert.Equal(
            [unanswered, cancelled, busy],
            all.Where(id => byCallee[id].GetProperty("missed").GetBoolean()).ToArray());
        Assert.Equal(
            new[] { unanswered, cancelled, busy }.Order().ToList(),
            (await PagesAsync(users[1].Token, "missed=true")).Select(c => c.Str("sessionId")).Where(all.Contains).Order().ToList());
        Assert.Equal(["unanswered", "cancelled", "busy", "rejected", "busy", "ended"], all.Select(id => byCallee[id].Str("status")));
    }

    [Fact]
    public async Task A_user_reads_only_their_own_log_and_admins_read_anyones()
    {
        var users = await cluster.Admin.UsersAsync(4, "perm");
        await using var a = await WsClient.ConnectAsync(cluster.A, users[0].Uid, users[0].Token);
        await using var b = await WsClient.ConnectAsync(cluster.B, users[1].Uid, users[1].Token);
        var theirs = await Calls.EndedAsync(a, b);
        await EventuallyListedAsync(users[0].Token, [theirs]);

        // users[2] has no calls: an empty log, and the others' call is not theirs to read.
        using var empty = await Get("/v1/calls", users[2].Token);
        using var stranger = await Get($"/v1/calls/{theirs}", users[2].Token);
        using var party = await Get($"/v1/calls/{theirs}", users[1].Token);
        using var unknown = await Get($"/v1/calls/{Guid.NewGuid():N}", users[2].Token);
        using var anonymous = await cluster.Admin.SendAsync(HttpMethod.Get, "/v1/calls", apiKey: null);
        Assert.Equal(HttpStatusCode.OK, empty.StatusCode);
        using (var body = JsonDocument.Parse(await empty.Content.ReadAsStringAsync()))
        {
            Assert.Equal(0, body.RootElement.GetProperty("calls").GetArrayLength());
            Assert.Equal(JsonValueKind.Null, body.RootElement.GetProperty("next").ValueKind);
        }

        Assert.Equal((HttpStatusCode.Forbidden, "ERR_PERMISSION_DENIED"), (stranger.StatusCode, await Answers.ErrorCodeOf(stranger)));
        Assert.Equal(HttpStatusCode.OK, party.StatusCode);
        Assert.Equal((HttpStatusCode.NotFound, "ERR_CALL_NOT_FOUND"), (unknown.StatusCode, await Answers.ErrorCodeOf(unknown)));
        Assert.Equal((HttpStatusCode.Unauthorized, "ERR_USER_NOT_LOGGED_IN"), (anonymous.StatusCode, await Answers.ErrorCodeOf(anonymous)));

        // The admin key reads any user's log with the same parameters; a user's token does not.
        using var admin = await cluster.Admin.SendAsync(HttpMethod.Get, $"/v1/users/{users[1].Uid}/calls?limit=5&direction=incoming");
        using var asUser = await cluster.Admin.SendAsync(HttpMethod.Get, $"/v1/users/{users[1].Uid}/calls", apiKey: null, bearer: users[1].Token);
        using var wrongKey = await cluster.Admin.SendAsync(HttpMethod.Get, $"/v1/users/{users[1].Uid}/calls", apiKey: "wrong-key-0123456789");
        using var nobody = await cluster.Admin.SendAsync(HttpMethod.Get, $"/v1/users/nobody-{Guid.NewGuid():N}/calls");
        Assert.Equal(HttpStatusCode.OK, admin.StatusCode);
        using (var body = JsonDocument.Parse(await admin.Content.ReadAsStringAsync()))
        {
            Assert.Equal([theirs], body.RootElement.GetProperty("calls").EnumerateArray().Select(c => c.Str("sessionId")));
        }

        Assert.Equal(HttpStatusCode.Unauthorized, asUser.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, wrongKey.StatusCode);
        Assert.Equal((HttpStatusCode.NotFound, "ERR_UID_NOT_FOUND"), (nobody.StatusCode, await Answers.ErrorCodeOf(nobody)));
    }

    [Fact]
    public async Task Cursors_work_only_for_the_log_they_were_issued_for()
    {
        var users = await cluster.Admin.UsersAsync(3, "cur");
        await using var a = await WsClient.ConnectAsync(cluster.A, users[0].Uid, users[0].Token);
        await using var b = await WsClient.ConnectAsync(cluster.B, users[1].Uid, users[1].Token);
        var ids = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            ids.Add(await Calls.RejectedAsync(a, b, "rejected"));
        }

        await EventuallyListedAsync(users[0].Token, ids);
        using var first = await Get("/v1/calls?limit=1", users[0].Token);
        using var body = JsonDocument.Parse(await first.Content.ReadAsStringAsync());
        var cursor = body.RootElement.GetProperty("next").GetString()!;

        using var next = await Get($"/v1/calls?limit=1&cursor={Uri.EscapeDataString(cursor)}", users[0].Token);
        using var otherUser = await Get($"/v1/calls?limit=1&cursor={Uri.EscapeDataString(cursor)}", users[1].Token);
        var tampered = cursor[..^2] + (cursor[^2] == 'A' ? "B" : "A") + cursor[^1];
        using var forged = await Get($"/v1/calls?cursor={Uri.EscapeDataString(tampered)}", users[0].Token);
        using var made = await Get($"/v1/calls?cursor={Uri.EscapeDataString("MTIzfGlmOjpmb28.AAAAAAAAAAAAAAAAAAAAAA")}", users[0].Token);

        Assert.Equal(HttpStatusCode.OK, next.StatusCode);
        using (var page = JsonDocument.Parse(await next.Content.ReadAsStringAsync()))
        {
            Assert.Equal(ids[1], page.RootElement.GetProperty("calls")[0].Str("sessionId"));
        }

        foreach (var refused in new[] { otherUser, forged, made })
        {
            Assert.Equal((HttpStatusCode.BadRequest, "ERR_BAD_REQUEST"), (refused.StatusCode, await Answers.ErrorCodeOf(refused)));
        }
    }

    [Theory]
    [InlineData("limit=0")]
    [InlineData("limit=101")]
    [InlineData("limit=ten")]
    [InlineData("limit=-1")]
    [InlineData("status=done")]
    [InlineData("status=Ended")]
    [InlineData("callType=screen")]
    [InlineData("direction=sideways")]
    [InlineData("receiverType=room")]
    [InlineData("missed=yes")]
    [InlineData("missed=")]
    [InlineData("status=busy&status=ended")]
    [InlineData("sort=oldest")]
    [InlineData("cursor=not-a-cursor")]
    public async Task Bad_log_parameters_are_400(string query)
    {
        var users = await cluster.Admin.UsersAsync(1, "bad");

        using var response = await Get($"/v1/calls?{query}", users[0].Token);
        using var admin = await cluster.Admin.SendAsync(HttpMethod.Get, $"/v1/users/{users[0].Uid}/calls?{query}");

        Assert.Equal((HttpStatusCode.BadRequest, "ERR_BAD_REQUEST"), (response.StatusCode, await Answers.ErrorCodeOf(response)));
        Assert.Equal(HttpStatusCode.BadRequest, admin.StatusCode);
    }

    [Fact]
    public async Task Late_requests_on_a_settled_call_get_the_error_of_its_status_and_the_call_stays_readable()
    {
        var users = await cluster.Admin.UsersAsync(2, "late");
        await using var a = await WsClient.ConnectAsync(cluster.A, users[0].Uid, users[0].Token);
        await using var b = await WsClient.ConnectAsync(cluster.B, users[1].Uid, users[1].Token);
        var ended = await Calls.EndedAsync(a, b);
        var cancelled = await Calls.CancelledAsync(a, b);
        await EventuallyListedAsync(users[1].Token, [ended, cancelled]);

        Assert.Equal("ERR_CALL_ENDED", (await b.RequestAsync("acceptCall", new { sessionId = ended })).ErrorCode());
        Assert.Equal("ERR_CALL_ENDED", (await a.RequestAsync("endCall", new { sessionId = ended })).ErrorCode());
        Assert.Equal("ERR_CALL_CANCELLED", (await b.RequestAsync("acceptCall", new { sessionId = cancelled })).ErrorCode());
        Assert.Equal("ERR_CALL_CANCELLED", (await b.RequestAsync("rejectCall", new { sessionId = cancelled, status = "rejected" })).ErrorCode());
        using var read = await Get($"/v1/calls/{ended}", users[1].Token);
        using var body = JsonDocument.Parse(await read.Content.ReadAsStringAsync());
        Assert.Equal("ended", body.RootElement.GetProperty("call").Str("status"));
        Assert.True(body.RootElement.GetProperty("call").GetProperty("duration").GetDouble() >= 0);
    }

    private async Task<HttpResponseMessage> Get(string path, string token) =>
        await cluster.Admin.SendAsync(HttpMethod.Get, path, apiKey: null, bearer: token);

    /// <summary>Every page of the user's log for the query, following <c>next</c> (bounded).</summary>
    private async Task<List<JsonElement>> PagesAsync(string token, string query)
    {
        var calls = new List<JsonElement>();
        string? cursor = null;
        for (var page = 0; page < 500; page++)
        {
            var path = cursor is null ? $"/v1/calls?{query}" : $"/v1/calls?{query}&cursor={Uri.EscapeDataString(cursor)}";
            using var response = await Get(path, token);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
            var entries = body.RootElement.GetProperty("calls");
            Assert.True(entries.GetArrayLength() <= 100);
            calls.AddRange(entries.EnumerateArray().Select(e => e.Clone()));
            cursor = body.RootElement.GetProperty("next").GetString();
            if (cursor is null)
            {
                return calls;
            }
        }

        throw new InvalidOperationException("the log did not end within 500 pages");
    }

    /// <summary>Settled calls reach the log just after the final events: wait (bounded) until all are listed.</summary>
    private async Task EventuallyListedAsync(string token, IEnumerable<string> ids)
    {
        var wanted = ids.ToHashSet();
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            var listed = (await PagesAsync(token, "limit=100")).Select(c => c.Str("sessionId")).ToHashSet();
            if (wanted.IsSubsetOf(listed))
            {
                return;
            }

            Assert.True(DateTime.UtcNow < deadline, $"{wanted.Count(id => !listed.Contains(id))} settled calls not in the log after 30 s");
            await Task.Delay(200);
        }
    }

}

/// <summary>What the focal user's log entry of a call must say.</summary>
public sealed record Expectation(string Status, string Direction, bool Missed, string CallType);

/// <summary>Makes calls of every kind between the focal user (the first client) and peers, recording what each must log.</summary>
internal sealed class Calls(WsClient me, IReadOnlyList<WsClient> peers)
{
    private int _arrived;

    public List<KeyValuePair<string, Expectation>> Expected { get; } = [];

    public int Arrived => Volatile.Read(ref _arrived);

    public static Expectation Describe(JsonElement call) =>
        new(call.Str("status"), call.Str("direction"), call.GetProperty("missed").GetBoolean(), call.Str("callType"));

    /// <summary>One call of each kind with the focal user on either side.</summary>
    public async Task OneOfEachAsync(int round, bool withUnanswered)
    {
        var p = peers[round % peers.Count];
        var q = peers[(round + 1) % peers.Count];
        var r = peers[(round + 2) % peers.Count];
        Note(await EndedAsync(me, p, "video"), "ended", "outgoing", false, "video");
        Note(await EndedAsync(p, me), "ended", "incoming", false, "audio");
        Note(await RejectedAsync(me, p, "rejected"), "rejected", "outgoing", false, "audio");
        Note(await RejectedAsync(p, me, "rejected"), "rejected", "incoming", false, "audio");
        Note(await RejectedAsync(p, me, "busy"), "busy", "incoming", false, "audio");
        Note(await CancelledAsync(p, me), "cancelled", "incoming", true, "audio");
        Note(await CancelledAsync(me, p), "cancelled", "outgoing", false, "audio");

        // While the focal user talks to p, q and r are refused as busy (missed); then the focal user calls q while
        // q talks to r (busy, not missed).
        var talking = await StartAsync(me, p);
        Note(await BusyAttemptAsync(q, me), "busy", "incoming", true, "audio");
        Note(await BusyAttemptAsync(r, me), "busy", "incoming", true, "audio");
        Note(await HangUpAsync(me, talking), "ended", "outgoing", false, "audio");
        Note(await ServerBusyAsync(me, q, r), "busy", "outgoing", false, "audio");

        // Glare: both call each other at once and get one call.
        var (glare, initiator) = await GlareAsync(me, p);
        Note(glare, "ended", initiator == me.Uid ? "outgoing" : "incoming", false, "audio");
        if (withUnanswered)
        {
            Note(await UnansweredAsync(p, me), "unanswered", "incoming", true, "audio");
            Note(await UnansweredAsync(me, p), "unanswered", "outgoing", false, "audio");
        }
    }

    /// <summary>New calls while a test pages, until cancelled (at most 200).</summary>
    public async Task KeepCallingAsync(CancellationToken stop)
    {
        for (var i = 0; i < 200 && !stop.IsCancellationRequested; i++)
        {
            await (i % 2 == 0 ? EndedAsync(me, peers[i % peers.Count]) : RejectedAsync(peers[i % peers.Count], me, "rejected"));
            Interlocked.Increment(ref _arrived);
        }
    }

    public static async Task<string> EndedAsync(WsClient caller, WsClient callee, string callType = "audio")
    {
        var id = await StartAsync(caller, callee, callType);
        return await HangUpAsync(caller, id);
    }

    public static async Task<string> RejectedAsync(WsClient caller, WsClient callee, string status)
    {
        var id = await RingAsync(caller, callee);
        Ok(await callee.RequestAsync("rejectCall", new { sessionId = id, status }));
        return id;
    }

    public static async Task<string> CancelledAsync(WsClient caller, WsClient callee)
    {
        var id = await RingAsync(caller, callee);
        Ok(await caller.RequestAsync("rejectCall", new { sessionId = id, status = "cancelled" }));
        return id;
    }

    public static async Task<string> UnansweredAsync(WsClient caller, WsClient callee)
    {
        var ringing = await caller.RequestAsync("initiateCall", new { receiverId = callee.Uid, receiverType = "user", callType = "audio" });
        Ok(ringing);
        var id = ringing.SessionId();
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while ((await caller.RequestAsync("sync")).GetProperty("activeCall").ValueKind != JsonValueKind.Null)
        {
            Assert.True(DateTime.UtcNow < deadline, $"call {id} did not time out");
            await Task.Delay(100);
        }

        return id;
    }

    public static async Task<string> ServerBusyAsync(WsClient caller, WsClient callee, WsClient other)
    {
        var talking = await StartAsync(callee, other);
        var id = await BusyAttemptAsync(caller, callee);
        await HangUpAsync(callee, talking);
        return id;
    }

    private static async Task<string> BusyAttemptAsync(WsClient caller, WsClient callee)
    {
        var refused = await caller.RequestAsync("initiateCall", new { receiverId = callee.Uid, receiverType = "user", callType = "audio", timeoutSeconds = 60 });
        Assert.Equal("ERR_CALL_BUSY", refused.ErrorCode());
        return refused.SessionId();
    }

    private static async Task<(string SessionId, string Initiator)> GlareAsync(WsClient a, WsClient b)
    {
        var both = await Task.WhenAll(
            a.RequestAsync("initiateCall", new { receiverId = b.Uid, receiverType = "user", callType = "audio", timeoutSeconds = 60 }),
            b.RequestAsync("initiateCall", new { receiverId = a.Uid, receiverType = "user", callType = "audio", timeoutSeconds = 60 }));
        Ok(both[0]);
        Ok(both[1]);
        var id = both[0].SessionId();
        Assert.Equal(id, both[1].SessionId());
        var initiator = both[0].Call().GetProperty("initiator").Str("uid");
        if (both[0].Status() == "initiated" && both[1].Status() == "initiated")
        {
            throw new InvalidOperationException("glare left two ringing calls");
        }

        Ok(await a.RequestAsync("endCall", new { sessionId = id }));
        return (id, initiator);
    }

    private static async Task<string> StartAsync(WsClient caller, WsClient callee, string callType = "audio")
    {
        var id = await RingAsync(caller, callee, callType);
        Ok(await callee.RequestAsync("acceptCall", new { sessionId = id }));
        return id;
    }

    private static async Task<string> HangUpAsync(WsClient who, string id)
    {
        Ok(await who.RequestAsync("endCall", new { sessionId = id }));
        return id;
    }

    private static async Task<string> RingAsync(WsClient caller, WsClient callee, string callType = "audio")
    {
        var response = await caller.RequestAsync("initiateCall", new { receiverId = callee.Uid, receiverType = "user", callType, timeoutSeconds = 60 });
        Ok(response);
        return response.SessionId();
    }

    private static void Ok(JsonElement response) =>
        Assert.True(response.IsOk(), response.TryGetProperty("error", out var e) ? e.GetRawText() : "not ok");

    private void Note(string id, string status, string direction, bool missed, string callType) =>
        Expected.Add(new(id, new Expectation(status, direction, missed, callType)));
}
