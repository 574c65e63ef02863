namespace CallGrains.Client.Tests;

/// <summary>The SDK's REST side: auth tokens minted with the admin client, media tokens, one call, the call log and its pages.</summary>
[Collection(ClientNodeGroup.Name)]
public sealed class RestTests(ClientNodeFixture node)
{
    [Fact]
    public async Task The_admin_client_creates_users_mints_tokens_and_refuses_what_the_server_refuses()
    {
        var uid = $"minted-{Guid.NewGuid():N}"[..24];

        var user = await node.Admin.CreateUserAsync(uid, "Minted");
        var token = await node.Admin.IssueTokenAsync(uid);

        Assert.Equal(new CallUser(uid, "Minted"), user);
        Assert.Equal(new CallUser(uid, "Minted"), await node.Admin.GetUserAsync(uid));
        Assert.True(token.ExpiresAt > DateTimeOffset.UtcNow);
        Assert.Equal(uid, CallFlowTests.JwtClaim(token.Token, "sub"));
        await using (var client = await node.ConnectAsync(token.Token))
        {
            Assert.Equal(uid, client.Uid);
        }

        var exists = await Assert.ThrowsAsync<CallGrainsException>(() => node.Admin.CreateUserAsync(uid, "Again"));
        Assert.Equal((ErrorCodes.BadRequest, 409), (exists.Code, exists.HttpStatus));
        var unknown = await Assert.ThrowsAsync<CallGrainsException>(() => node.Admin.IssueTokenAsync($"nobody-{Guid.NewGuid():N}"));
        Assert.Equal((ErrorCodes.UidNotFound, 404), (unknown.Code, unknown.HttpStatus));
        using var wrongKey = new CallGrainsAdminClient(node.Node.BaseUri, "wrong-key-0123456789-0123456789-0123456789");
        var refused = await Assert.ThrowsAsync<CallGrainsException>(() => wrongKey.IssueTokenAsync(uid));
        Assert.Equal((ErrorCodes.PermissionDenied, 401), (refused.Code, refused.HttpStatus));
    }

    [Fact]
    public async Task A_party_of_a_live_call_gets_a_media_token_for_it()
    {
        await using var p = await Pair.StartAsync(node);
        var call = await p.ConnectCallAsync(CallType.Video);

        var token = await p.B.GenerateTokenAsync(call.SessionId);

        Assert.Equal(call.SessionId, CallFlowTests.JwtClaim(token.Token, "sid"));
        Assert.Equal(p.B.Uid, CallFlowTests.JwtClaim(token.Token, "sub"));
        Assert.InRange(token.ExpiresAt, DateTimeOffset.UtcNow, DateTimeOffset.UtcNow.AddHours(1).AddMinutes(1));
        Assert.Equal(CallStatus.Ongoing, (await p.A.GetCallAsync(call.SessionId)).Status);
        await p.A.EndCallAsync(call.SessionId);
        var settled = await Assert.ThrowsAsync<CallGrainsException>(() => p.B.GenerateTokenAsync(call.SessionId));
        Assert.Equal(409, settled.HttpStatus);
    }

    [Fact]
    public async Task The_call_log_pages_with_cursors_and_filters_from_each_side()
    {
        await using var p = await Pair.StartAsync(node);
        var sessions = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            var call = await p.A.InitiateCallAsync(new Call(p.B.Uid, i == 1 ? CallType.Audio : CallType.Video));
            await p.BEvents.WaitAsync("incomingCallReceived", call.SessionId);
            await p.A.RejectCallAsync(call.SessionId, CallStatus.Cancelled);
            sessions.Add(call.SessionId);
        }

        // A call appears in the log just after its final events: wait for the last one.
        await CallFlowTests.WaitUntilAsync(async () => (await p.B.GetCallLogAsync(new CallLogQuery { Limit = 1 })).Calls is [var newest] && newest.Call.SessionId == sessions[^1], "the last call in the log");

        var pages = new List<CallLogPage>();
        string? cursor = null;
        do
        {
            var page = await p.A.GetCallLogAsync(new CallLogQuery { Limit = 2, Cursor = cursor });
            pages.Add(page);
            cursor = page.Next;
        }
        while (cursor is not null && pages.Count < 10);

        Assert.Equal([2, 1], pages.Select(page => page.Calls.Count));
        var entries = pages.SelectMany(page => page.Calls).ToList();
        Assert.Equal(Enumerable.Reverse(sessions), entries.Select(e => e.Call.SessionId));
        Assert.All(entries, e => Assert.Equal((CallDirection.Outgoing, false, CallStatus.Cancelled), (e.Direction, e.Missed, e.Call.Status)));

        var missed = await p.B.GetCallLogAsync(new CallLogQuery { Missed = true, Direction = CallDirection.Incoming });
        Assert.Equal(3, missed.Calls.Count);
        Assert.All(missed.Calls, e => Assert.True(e.Missed));
        var audio = await p.B.GetCallLogAsync(new CallLogQuery { CallType = CallType.Audio, Status = CallStatus.Cancelled, ReceiverType = ReceiverType.User });
        Assert.Equal(sessions[1], Assert.Single(audio.Calls).Call.SessionId);
        var viaAdmin = await node.Admin.GetCallLogAsync(p.B.Uid, new CallLogQuery { Limit = 100 });
        Assert.Equal(3, viaAdmin.Calls.Count);

        var badCursor = await Assert.ThrowsAsync<CallGrainsException>(() => p.B.GetCallLogAsync(new CallLogQuery { Cursor = "forged" }));
        Assert.Equal((ErrorCodes.BadRequest, 400), (badCursor.Code, badCursor.HttpStatus));
    }
}
