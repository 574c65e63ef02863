using System.Net;
using System.Text.Json;

namespace CallGrains.Gateway.Tests;

/// <summary>
/// A group call of five over real sockets, the members spread over two gateways, as the apps of PROTOCOL section 6
/// ("Group calls") see it: exact events, seq without gaps, and each member's call log afterwards.
/// </summary>
[Collection(TwoNodeGroup.Name)]
public sealed class GroupCallFlowTests(TwoNodeFixture cluster)
{
    [Fact]
    public async Task Ring_accept_reject_join_leave_end_as_five_members_see_it()
    {
        var (guid, m) = await GroupOfAsync(5);
        try
        {
            var started = await m[0].RequestAsync("initiateCall", new { receiverId = guid, receiverType = "group", callType = "video" });
            Assert.True(started.IsOk(), started.ToString());
            var call = started.Call();
            var sessionId = started.SessionId();
            Assert.Equal(("initiated", "group", guid), (call.Str("status"), call.Str("receiverType"), call.Str("receiverId")));
            Assert.Equal([m[0].Uid], call.GetProperty("participants").EnumerateArray().Select(p => p.Str("uid")));
            var members = call.GetProperty("members").EnumerateArray().ToList();
            Assert.Equal(m[1..].Select(c => c.Uid).Order(), members.Select(x => x.Str("uid")).Order());
            Assert.All(members, x => Assert.Equal("ringing", x.Str("status")));
            Assert.All(members, x => Assert.StartsWith("User ", x.Str("name"), StringComparison.Ordinal));
            foreach (var member in m[1..])
            {
                Assert.Equal(sessionId, (await member.EventAsync(0, "incomingCallReceived")).SessionId());
            }

            // m1 accepts: the caller is told (accepted, then joined); m2 rejects: only their ringing stops.
            var accepted = await m[1].RequestAsync("acceptCall", new { sessionId });
            Assert.Equal("ongoing", accepted.Status());
            Assert.Equal(m[1].Uid, (await m[0].EventAsync(0, "outgoingCallAccepted")).Call().GetProperty("participants")[1].Str("uid"));
            Assert.Equal(m[1].Uid, (await m[0].EventAsync(1, "userJoined")).GetProperty("user").Str("uid"));
            var rejected = await m[2].RequestAsync("rejectCall", new { sessionId, status = "rejected" });
            Assert.Equal("ongoing", rejected.Status());
            Assert.Equal("rejected", MemberStatus(rejected, m[2].Uid));

            // m3 accepts, m2 changes their mind and joins: everyone in the call hears each join.
            Assert.True((await m[3].RequestAsync("acceptCall", new { sessionId })).IsOk());
            var joined = await m[2].RequestAsync("joinCall", new { sessionId });
            Assert.True(joined.IsOk(), joined.ToString());
            Assert.Equal("joined", MemberStatus(joined, m[2].Uid));
            Assert.Equal(m[3].Uid, (await m[0].EventAsync(2, "userJoined")).GetProperty("user").Str("uid"));
            Assert.Equal(m[2].Uid, (await m[0].EventAsync(3, "userJoined")).GetProperty("user").Str("uid"));
            Assert.Equal(m[3].Uid, (await m[1].EventAsync(1, "userJoined")).GetProperty("user").Str("uid"));
            Assert.Equal(m[2].Uid, (await m[1].EventAsync(2, "userJoined")).GetProperty("user").Str("uid"));
            Assert.Equal(m[2].Uid, (await m[3].EventAsync(1, "userJoined")).GetProperty("user").Str("uid"));

            // m1 leaves; the others hear it. Then the initiator ends it for everyone, and m4, still ringing, stops.
            var left = await m[1].RequestAsync("leaveCall", new { sessionId });
            Assert.Equal("ongoing", left.Status());
            foreach (var (client, index) in new[] { (m[0], 4), (m[2], 1), (m[3], 2) })
            {
                var evt = await client.EventAsync(index, "userLeft");
                Assert.Equal(m[1].Uid, evt.GetProperty("user").Str("uid"));
            }

            var ended = await m[0].RequestAsync("endCall", new { sessionId });
            Assert.Equal("ended", ended.Status());
            await m[2].EventAsync(2, "callEndedMessageReceived");
            await m[3].EventAsync(3, "callEndedMessageReceived");
            Assert.Equal("cancelled", (await m[4].EventAsync(1, "incomingCallCanceled")).Str("reason"));

            await m[0].NoMoreEventsAsync(5);
            await m[1].NoMoreEventsAsync(3);
            foreach (var client in m)
            {
                AssertNoGaps(client);
                var sync = await client.RequestAsync("sync");
                Assert.Equal(JsonValueKind.Null, sync.GetProperty("activeCall").ValueKind);
                Assert.Equal(0, sync.GetProperty("ringing").GetArrayLength());
            }

            // Each member's history: who missed it (m4 never answered) and who did not.
            var expected = new[] { ("outgoing", false), ("incoming", false), ("incoming", false), ("incoming", false), ("incoming", true) };
            for (var i = 0; i < m.Length; i++)
            {
                var entry = await LogEntryAsync(m[i].Uid, sessionId);
                Assert.Equal(expected[i], (entry.Str("direction"), entry.GetProperty("missed").GetBoolean()));
                Assert.Equal("ended", entry.Str("status"));
            }
        }
        finally
        {
            await DisposeAllAsync(m);
        }
    }

    [Fact]
    public async Task Strangers_busy_groups_and_bad_group_requests_get_the_protocols_errors()
    {
        var (guid, m) = await GroupOfAsync(3);
        var (strangerUid, strangerToken) = (await cluster.Admin.UsersAsync(1, "gs"))[0];
        await using var stranger = await WsClient.ConnectAsync(cluster.B.BaseUri, strangerUid, strangerToken);
        try
        {
            var byStranger = await stranger.RequestAsync("initiateCall", new { receiverId = guid, receiverType = "group", callType = "audio" });
            Assert.Equal("ERR_PERMISSION_DENIED", byStranger.ErrorCode());
            var noGroup = await m[0].RequestAsync("initiateCall", new { receiverId = "no-group-" + guid, receiverType = "group", callType = "audio" });
            Assert.Equal("ERR_GUID_NOT_FOUND", noGroup.ErrorCode());

            var started = await m[0].RequestAsync("initiateCall", new { receiverId = guid, receiverType = "group", callType = "audio" });
            var sessionId = started.SessionId();
            Assert.Equal("ERR_PERMISSION_DENIED", (await stranger.RequestAsync("joinCall", new { sessionId })).ErrorCode());

            // The group has a live call: a second one is refused with that call attached, and can be joined instead.
            Assert.True((await m[1].RequestAsync("rejectCall", new { sessionId, status = "rejected" })).IsOk());
            var second = await m[1].RequestAsync("initiateCall", new { receiverId = guid, receiverType = "group", callType = "audio" });
            Assert.Equal("ERR_CALL_BUSY", second.ErrorCode());
            Assert.Equal(sessionId, second.SessionId());
            Assert.Equal("ongoing", (await m[1].RequestAsync("joinCall", new { sessionId })).Status());

            // joinCall and leaveCall are for group calls: a party of a 1:1 call is told so, anyone else only that they may not.
            var oneToOne = await stranger.CallAsync(m[2].Uid);
            Assert.Equal("ERR_CALL_BUSY", oneToOne.ErrorCode());
            Assert.Equal("ERR_BAD_REQUEST", (await stranger.RequestAsync("joinCall", new { sessionId = oneToOne.SessionId() })).ErrorCode());
            Assert.Equal("ERR_PERMISSION_DENIED", (await m[0].RequestAsync("joinCall", new { sessionId = oneToOne.SessionId() })).ErrorCode());
            Assert.Equal("ERR_CALL_NOT_FOUND", (await m[0].RequestAsync("leaveCall", new { sessionId = "no-such-call" })).ErrorCode());
            Assert.Equal("ERR_BAD_REQUEST", (await m[0].RequestAsync("joinCall", new { })).ErrorCode());
        }
        finally
        {
            await DisposeAllAsync(m);
        }
    }

    [Fact]
    public async Task A_member_removed_from_the_group_while_it_rings_for_them_stops_ringing()
    {
        var (guid, m) = await GroupOfAsync(4);
        try
        {
            var started = await m[0].RequestAsync("initiateCall", new { receiverId = guid, receiverType = "group", callType = "audio" });
            var sessionId = started.SessionId();
            await m[3].EventAsync(0, "incomingCallReceived");

            using var removed = await cluster.Admin.SendAsync(HttpMethod.Post, $"/v1/groups/{guid}/members", new { remove = new[] { m[3].Uid } });

            Assert.Equal(HttpStatusCode.OK, removed.StatusCode);
            var canceled = await m[3].EventAsync(1, "incomingCallCanceled");
            Assert.Equal("cancelled", canceled.Str("reason"));
            Assert.Equal(0, (await m[3].RequestAsync("sync")).GetProperty("ringing").GetArrayLength());
            Assert.Equal("ERR_PERMISSION_DENIED", (await m[3].RequestAsync("joinCall", new { sessionId })).ErrorCode());

            // The others still ring and can answer.
            Assert.Equal("ongoing", (await m[1].RequestAsync("acceptCall", new { sessionId })).Status());
            await m[2].NoMoreEventsAsync(1);
            Assert.Equal("ended", (await m[0].RequestAsync("endCall", new { sessionId })).Status());
        }
        finally
        {
            await DisposeAllAsync(m);
        }
    }

    private static string MemberStatus(JsonElement response, string uid) =>
        response.Call().GetProperty("members").EnumerateArray().Single(x => x.Str("uid") == uid).Str("status");

    /// <summary>Every event a device got follows the one before it by exactly one, responses included.</summary>
    private static void AssertNoGaps(WsClient client)
    {
        var seqs = client.Log.Where(r => r.Event is not null && r.Event != "welcome").Select(r => r.Seq!.Value).ToList();
        Assert.Equal(seqs.Order(), seqs);
        Assert.Equal(seqs.Count, seqs.Distinct().Count());
    }

    private async Task<JsonElement> LogEntryAsync(string uid, string sessionId)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            using var response = await cluster.Admin.SendAsync(HttpMethod.Get, $"/v1/users/{uid}/calls");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            using var doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
            var entry = doc.RootElement.GetProperty("calls").EnumerateArray().FirstOrDefault(c => c.Str("sessionId") == sessionId);
            if (entry.ValueKind == JsonValueKind.Object)
            {
                return entry.Clone();
            }

            Assert.True(DateTime.UtcNow < deadline, $"call {sessionId} never reached {uid}'s log");
            await Task.Delay(50);
        }
    }

    /// <summary>A group of <paramref name="size"/> connected members, alternately on the two gateways.</summary>
    private async Task<(string Guid, WsClient[] Members)> GroupOfAsync(int size)
    {
        var users = await cluster.Admin.UsersAsync(size, "gm");
        var guid = $"team-{Guid.NewGuid():N}";
        using var created = await cluster.Admin.SendAsync(HttpMethod.Post, "/v1/groups", new { guid, name = "Team", members = users.Select(u => u.Uid).ToArray() });
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var clients = new WsClient[size];
        for (var i = 0; i < size; i++)
        {
            clients[i] = await WsClient.ConnectAsync(i % 2 == 0 ? cluster.A.BaseUri : cluster.B.BaseUri, users[i].Uid, users[i].Token);
        }

        return (guid, clients);
    }

    private static async Task DisposeAllAsync(IEnumerable<WsClient> clients)
    {
        foreach (var client in clients)
        {
            await client.DisposeAsync();
        }
    }
}
