using System.Text.Json;
using CallGrains.Abstractions;
using Microsoft.Extensions.DependencyInjection;

namespace CallGrains.Gateway.Tests;

/// <summary>A user slot left naming a call that is not live (a failure between two writes) is repaired, not obeyed.</summary>
[Collection(TwoNodeGroup.Name)]
public sealed class RepairTests(TwoNodeFixture cluster)
{
    [Fact]
    public async Task A_slot_naming_a_call_that_does_not_exist_is_freed_on_connect_and_on_sync()
    {
        var users = await cluster.Admin.UsersAsync(2);
        var grains = cluster.A.Services.GetRequiredService<IGrainFactory>();
        await LeavePhantomAsync(grains, users[0].Uid, users[1].Uid);
        var stuck = await grains.GetGrain<IUserGrain>(users[0].Uid).GetSnapshot();
        Assert.NotNull(stuck!.ActiveCall);

        await using var a = await WsClient.ConnectAsync(cluster.B, users[0].Uid, users[0].Token);

        Assert.Equal(JsonValueKind.Null, a.Welcome.GetProperty("activeCall").ValueKind);
        var call = await a.CallAsync(users[1].Uid);
        Assert.True(call.IsOk());
        Assert.True((await a.RequestAsync("rejectCall", new { sessionId = call.SessionId(), status = "cancelled" })).IsOk());

        await using var b = await WsClient.ConnectAsync(cluster.A, users[1].Uid, users[1].Token);
        await LeavePhantomAsync(grains, users[1].Uid, users[0].Uid);
        var sync = await b.RequestAsync("sync");
        Assert.Equal(JsonValueKind.Null, sync.GetProperty("activeCall").ValueKind);
        Assert.Empty(sync.GetProperty("ringing").EnumerateArray());
        Assert.True((await b.CallAsync(users[0].Uid)).IsOk());
    }

    [Fact]
    public async Task A_slot_still_holding_an_ended_call_is_freed_on_connect()
    {
        var users = await cluster.Admin.UsersAsync(2);
        var grains = cluster.A.Services.GetRequiredService<IGrainFactory>();
        await using var a = await WsClient.ConnectAsync(cluster.A, users[0].Uid, users[0].Token, "a");
        await using var b = await WsClient.ConnectAsync(cluster.B, users[1].Uid, users[1].Token, "b");
        var call = await a.CallAsync(users[1].Uid);
        await b.RequestAsync("acceptCall", new { sessionId = call.SessionId() });
        await a.RequestAsync("endCall", new { sessionId = call.SessionId() });

        // As if the user had missed the end: the slot says ongoing again.
        var ended = (await grains.GetGrain<ICallSessionGrain>(call.SessionId()).Peek())!;
        await grains.GetGrain<IUserSlotGrain>(users[1].Uid).Update(new SlotUpdate { Call = ended with { Status = CallStatus.Ongoing }, Phase = SlotPhase.Ongoing });
        Assert.NotNull((await grains.GetGrain<IUserGrain>(users[1].Uid).GetSnapshot())!.ActiveCall);

        await using var again = await WsClient.ConnectAsync(cluster.A, users[1].Uid, users[1].Token, "b2");

        Assert.Equal(JsonValueKind.Null, again.Welcome.GetProperty("activeCall").ValueKind);
    }

    private static async Task LeavePhantomAsync(IGrainFactory grains, string uid, string peer)
    {
        var phantom = new CallInfo
        {
            SessionId = Identifiers.NewSessionId(),
            CallType = CallType.Audio,
            ReceiverType = ReceiverType.User,
            ReceiverId = peer,
            Initiator = new UserRef(uid, uid),
            Status = CallStatus.Initiated,
            InitiatedAt = DateTimeOffset.UtcNow,
        };
        var reserved = await grains.GetGrain<IUserSlotGrain>(uid).Reserve(new SlotRequest { Call = phantom, Role = CallRole.Caller, PeerId = peer, ExpiresAt = DateTimeOffset.UtcNow.AddHours(1) });
        Assert.Equal(ReservationOutcome.Reserved, reserved.Outcome);
    }
}
