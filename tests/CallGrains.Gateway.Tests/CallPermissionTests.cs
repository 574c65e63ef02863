using System.Net;

namespace CallGrains.Gateway.Tests;

/// <summary>
/// Over real sockets on two nodes: call tokens only for those in the call now, refusals that tell strangers nothing
/// (PROTOCOL sections 4 and 6), and a group's removed and departed members refused like strangers.
/// </summary>
[Collection(TwoNodeGroup.Name)]
public sealed class CallPermissionTests(TwoNodeFixture cluster)
{
    [Fact]
    public async Task Group_members_not_in_the_call_now_and_strangers_get_no_token_and_no_call()
    {
        // m0 calls; m1 accepts; m2 rejects; m3 accepts and leaves; m4 rings; x is no member. Spread over both nodes.
        var users = await cluster.Admin.UsersAsync(6, "tk");
        var guid = $"team-{Guid.NewGuid():N}";
        using (var created = await cluster.Admin.SendAsync(HttpMethod.Post, "/v1/groups", new { guid, name = "Team", members = users[..5].Select(u => u.Uid).ToArray() }))
        {
            Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        }

        var m = new WsClient[users.Length];
        for (var i = 0; i < users.Length; i++)
        {
            m[i] = await WsClient.ConnectAsync(cluster.Node(i % 2 == 1), users[i].Uid, users[i].Token);
        }

        try
        {
            var started = await m[0].RequestAsync("initiateCall", new { receiverId = guid, receiverType = "group", callType = "video" });
            Assert.True(started.IsOk(), started.ToString());
            var sessionId = started.SessionId();
            Assert.True((await m[1].RequestAsync("acceptCall", new { sessionId })).IsOk());
            Assert.True((await m[2].RequestAsync("rejectCall", new { sessionId, status = "rejected" })).IsOk());
            Assert.True((await m[3].RequestAsync("acceptCall", new { sessionId })).IsOk());
            Assert.True((await m[3].RequestAsync("leaveCall", new { sessionId })).IsOk());

            foreach (var allowed in new[] { m[0], m[1], m[4] })
            {
                var token = await allowed.RequestAsync("generateToken", new { sessionId });
                Assert.True(token.IsOk(), $"{allowed.Uid}: {token}");
            }

            foreach (var refused in new[] { m[2], m[3], m[5] })
            {
                (await refused.RequestAsync("generateToken", new { sessionId })).AssertDeniedWithoutCall();
            }

            // Removed while it rings for them: no more token.
            using (var removed = await cluster.Admin.SendAsync(HttpMethod.Post, $"/v1/groups/{guid}/members", new { add = Array.Empty<string>(), remove = new[] { m[4].Uid } }))
            {
                Assert.Equal(HttpStatusCode.OK, removed.StatusCode);
            }

            (await m[4].RequestAsync("generateToken", new { sessionId })).AssertDeniedWithoutCall();
            using var rest = await cluster.Admin.SendAsync(HttpMethod.Post, $"/v1/calls/{sessionId}/token", apiKey: null, bearer: users[2].Token);
            Assert.Equal(HttpStatusCode.Forbidden, rest.StatusCode);
            Assert.Equal("ERR_PERMISSION_DENIED", await Answers.ErrorCodeOf(rest));

            // A stranger's join of the live call, then of the settled one: the same bare refusal.
            (await m[5].RequestAsync("joinCall", new { sessionId })).AssertDeniedWithoutCall();
            Assert.Equal("ended", (await m[0].RequestAsync("endCall", new { sessionId })).Status());
            foreach (var op in new[] { "joinCall", "leaveCall", "generateToken", "endCall" })
            {
                (await m[5].RequestAsync(op, new { sessionId })).AssertDeniedWithoutCall();
            }

            // A party is still told what became of it.
            var late = await m[2].RequestAsync("joinCall", new { sessionId });
            Assert.Equal("ERR_CALL_ENDED", late.ErrorCode());
            Assert.Equal("ended", late.Status());
        }
        finally
        {
            foreach (var client in m)
            {
                await client.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task A_stranger_gets_no_token_for_a_one_to_one_call_and_a_party_none_once_it_settled()
    {
        var users = await cluster.Admin.UsersAsync(3, "t1");
        await using var a = await WsClient.ConnectAsync(cluster.A, users[0].Uid, users[0].Token);
        await using var b = await WsClient.ConnectAsync(cluster.B, users[1].Uid, users[1].Token);
        await using var stranger = await WsClient.ConnectAsync(cluster.A, users[2].Uid, users[2].Token);
        var sessionId = (await a.CallAsync(b.Uid)).SessionId();

        Assert.True((await b.RequestAsync("generateToken", new { sessionId })).IsOk());
        (await stranger.RequestAsync("generateToken", new { sessionId })).AssertDeniedWithoutCall();
        (await stranger.RequestAsync("joinCall", new { sessionId })).AssertDeniedWithoutCall();

        Assert.Equal("cancelled", (await a.RequestAsync("endCall", new { sessionId })).Status());
        Assert.Equal("ERR_CALL_CANCELLED", (await b.RequestAsync("generateToken", new { sessionId })).ErrorCode());
        (await stranger.RequestAsync("generateToken", new { sessionId })).AssertDeniedWithoutCall();
    }
}
