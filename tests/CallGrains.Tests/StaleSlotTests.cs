using CallGrains.Abstractions;

namespace CallGrains.Tests;

/// <summary>
/// A session stores a change before it tells the users; if its silo dies between the two, a user's slot still names
/// a call that has settled. Such a user must not stay busy: the next call that meets the slot has it repaired.
/// </summary>
[Collection(ClusterGroup.Name)]
public sealed class StaleSlotTests(ClusterFixture fixture)
{
    private readonly CallTestKit _kit = new(fixture.Cluster);

    [Fact]
    public async Task A_callee_left_holding_an_ended_call_can_be_called()
    {
        var (a, b, c) = await LeftHoldingAsync();

        var result = await _kit.CallAsync(c, b);

        Assert.True(result.Ok, result.Error?.Message);
        Assert.Equal(result.Call!.SessionId, Assert.Single((await _kit.SnapshotAsync(b)).Ringing).SessionId);
        await _kit.AssertFreeAsync(a);
    }

    [Fact]
    public async Task A_caller_left_holding_an_ended_call_can_call()
    {
        var (a, b, c) = await LeftHoldingAsync();

        var result = await _kit.CallAsync(b, c);

        Assert.True(result.Ok, result.Error?.Message);
        Assert.Equal(result.Call!.SessionId, (await _kit.SnapshotAsync(b)).ActiveCall?.SessionId);
        await _kit.AssertFreeAsync(a);
    }

    [Fact]
    public async Task A_user_in_a_live_call_is_still_busy()
    {
        var (a, b) = await _kit.CreatePairAsync();
        var c = (await _kit.CreateUsersAsync(1))[0];
        var call = await _kit.ConnectAsync(a, b);

        var result = await _kit.CallAsync(c, b);

        Assert.Equal(CallErrorCode.CallBusy, result.Error?.Code);
        Assert.Equal(call.SessionId, (await _kit.SnapshotAsync(b)).ActiveCall?.SessionId);
    }

    [Fact]
    public async Task Two_users_both_left_holding_their_ended_call_can_call_each_other()
    {
        var (a, b, _) = await LeftHoldingAsync(both: true);

        var result = await _kit.CallAsync(a, b);

        Assert.True(result.Ok, result.Error?.Message);
        Assert.Equal(result.Call!.SessionId, Assert.Single((await _kit.SnapshotAsync(b)).Ringing).SessionId);
    }

    [Fact]
    public async Task Calling_back_over_a_cancelled_call_that_left_both_ringing_slots_behind_rings()
    {
        var (a, b) = await _kit.CreatePairAsync();
        var call = await _kit.RingAsync(a, b);
        Assert.True((await _kit.Session(call.SessionId).RejectCall(a, CallStatus.Cancelled, null)).Ok);

        // What a silo dying before telling the users leaves: a's slot calling b, b's slot ringing from a.
        var expires = DateTimeOffset.UtcNow.AddHours(1);
        await _kit.Slot(a).Reserve(new SlotRequest { Call = call, Role = CallRole.Caller, PeerId = b, ExpiresAt = expires });
        await _kit.Slot(b).Reserve(new SlotRequest { Call = call, Role = CallRole.Callee, PeerId = a, ExpiresAt = expires });
        await _kit.Slot(b).Update(new SlotUpdate { Call = call, Phase = SlotPhase.Ringing });
        Assert.Equal(call.SessionId, Assert.Single((await _kit.SnapshotAsync(b)).Ringing).SessionId);

        // b calls a back: this looks like glare with the dead call, which must not answer for the new one.
        var result = await _kit.CallAsync(b, a);

        Assert.True(result.Ok, result.Error?.Message);
        Assert.NotEqual(call.SessionId, result.Call!.SessionId);
        Assert.Equal(result.Call.SessionId, Assert.Single((await _kit.SnapshotAsync(a)).Ringing).SessionId);
    }

    /// <summary>a and b had a call that ended, but b's slot (and a's too, with <paramref name="both"/>) still shows it ongoing (the update that frees it was lost).</summary>
    private async Task<(string A, string B, string C)> LeftHoldingAsync(bool both = false)
    {
        var uids = await _kit.CreateUsersAsync(3);
        var (a, b, c) = (uids[0], uids[1], uids[2]);
        var call = await _kit.ConnectAsync(a, b);
        var ended = await _kit.Session(call.SessionId).EndCall(a, null);
        Assert.True(ended.Ok, ended.Error?.Message);

        // What a lost update leaves: b's slot holds the call as it was before it ended.
        foreach (var uid in both ? new[] { a, b } : [b])
        {
            await _kit.Slot(uid).Update(new SlotUpdate { Call = call, Phase = SlotPhase.Ongoing });
        }

        Assert.Equal(call.SessionId, (await _kit.SnapshotAsync(b)).ActiveCall?.SessionId);
        return (a, b, c);
    }
}
