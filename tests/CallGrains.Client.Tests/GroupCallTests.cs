namespace CallGrains.Client.Tests;

/// <summary>A group call through the SDK: the group made with the admin client, members ring, accept, decline, join, leave, end.</summary>
[Collection(ClientNodeGroup.Name)]
public sealed class GroupCallTests(ClientNodeFixture node)
{
    [Fact]
    public async Task Members_accept_decline_join_leave_and_the_initiator_ends_it()
    {
        await using var g = await Group.StartAsync(node, 4);
        var (ann, bob, cat, dan) = (g.Members[0], g.Members[1], g.Members[2], g.Members[3]);

        var call = await ann.Client.InitiateCallAsync(new Call(g.Guid, CallType.Video, ReceiverType.Group));

        Assert.True(call.IsGroup);
        Assert.Equal([ann.Client.Uid], call.Participants.Select(p => p.Uid));
        Assert.All(call.Members, m => Assert.Equal(MemberStatus.Ringing, m.Status));
        foreach (var member in g.Members.Skip(1))
        {
            await member.Events.WaitAsync("incomingCallReceived", call.SessionId);
        }

        await bob.Client.AcceptCallAsync(call.SessionId);
        await ann.Events.WaitAsync("outgoingCallAccepted", call.SessionId);
        Assert.Equal(bob.Client.Uid, (await ann.Events.WaitAsync<CallUserEventArgs>("userJoined")).User.Uid);

        var declined = await cat.Client.RejectCallAsync(call.SessionId, CallStatus.Rejected);
        Assert.Equal(MemberStatus.Rejected, declined.Members.Single(m => m.Uid == cat.Client.Uid).Status);
        Assert.Empty(cat.Client.RingingCalls);
        Assert.Null(cat.Client.CurrentCall);

        var joined = await cat.Client.JoinCallAsync(call.SessionId);
        Assert.Contains(cat.Client.Uid, joined.PresentParticipants.Select(p => p.Uid));
        Assert.Equal(call.SessionId, cat.Client.CurrentCall?.SessionId);
        await bob.Events.WaitAsync<CallUserEventArgs>("userJoined", e => e.User.Uid == cat.Client.Uid);

        await cat.Client.LeaveCallAsync(call.SessionId);
        Assert.Null(cat.Client.CurrentCall);
        var left = await ann.Events.WaitAsync<CallUserEventArgs>("userLeft");
        Assert.Equal(cat.Client.Uid, left.User.Uid);

        var ended = await ann.Client.EndCallAsync(call.SessionId);
        Assert.Equal(CallStatus.Ended, ended.Status);
        await bob.Events.WaitAsync("callEndedMessageReceived", call.SessionId);
        var stopped = await dan.Events.WaitAsync<CallCanceledEventArgs>("incomingCallCanceled");
        Assert.Equal(CancelReason.Cancelled, stopped.Reason);
        Assert.All(g.Members, m => Assert.Null(m.Client.CurrentCall));
        Assert.All(g.Members, m => Assert.Empty(m.Client.RingingCalls));
    }

    [Fact]
    public async Task A_second_initiate_on_a_live_group_call_fails_busy_with_the_call_to_join()
    {
        await using var g = await Group.StartAsync(node, 3);
        var call = await g.Members[0].Client.InitiateCallAsync(new Call(g.Guid, CallType.Audio, ReceiverType.Group));
        await g.Members[1].Events.WaitAsync("incomingCallReceived", call.SessionId);
        await g.Members[1].Client.AcceptCallAsync(call.SessionId);
        await g.Members[2].Client.RejectCallAsync(call.SessionId, CallStatus.Rejected);

        var busy = await Assert.ThrowsAsync<CallGrainsException>(() => g.Members[2].Client.InitiateCallAsync(new Call(g.Guid, CallType.Audio, ReceiverType.Group)));

        Assert.Equal(ErrorCodes.CallBusy, busy.Code);
        Assert.Equal(call.SessionId, busy.Call?.SessionId);
        Assert.Null(g.Members[2].Client.CurrentCall);
        await g.Members[2].Client.JoinCallAsync(busy.Call!.SessionId);
        Assert.Equal(call.SessionId, g.Members[2].Client.CurrentCall?.SessionId);
        await g.Members[0].Client.EndCallAsync(call.SessionId);
    }
}

/// <summary>A group made through the admin client, each member connected with a recorder.</summary>
internal sealed class Group : IAsyncDisposable
{
    private Group(string guid, IReadOnlyList<(CallGrainsClient Client, Recorder Events)> members) => (Guid, Members) = (guid, members);

    public string Guid { get; }

    public IReadOnlyList<(CallGrainsClient Client, Recorder Events)> Members { get; }

    public static async Task<Group> StartAsync(ClientNodeFixture node, int size, Action<CallGrainsClientOptions>? configure = null)
    {
        var users = await node.UsersAsync(size, "g");
        var guid = $"team-{System.Guid.NewGuid():N}"[..20];
        var stored = await node.Admin.CreateGroupAsync(guid, "Team", users.Select(u => u.Uid));
        Assert.Equal(users.Select(u => u.Uid).Order(), stored);
        var members = new List<(CallGrainsClient, Recorder)>();
        foreach (var (_, token) in users)
        {
            var client = await node.ConnectAsync(token, configure: configure);
            members.Add((client, new Recorder(client)));
        }

        return new Group(guid, members);
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var (client, _) in Members)
        {
            await client.DisposeAsync();
        }
    }
}
