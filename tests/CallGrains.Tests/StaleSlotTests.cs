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

        Assert.Equal(ErrorCode.CallBusy, result.Error?.Code);
        Assert.Equal(call.SessionId, (await _kit.SnapshotAsync(b)).ActiveCall?.SessionId);
    }

    /// <summary>a and b had a call that ended, but b's slot still shows it ongoing (the update that frees it was lost).</summary>
    private async Task<(string A, string B, string C)> LeftHoldingAsync()
    {
        var uids = await _kit.CreateUsersAsync(3);
        var (a, b, c) = (uids[0], uids[1], uids[2]);
        var call = await _kit.ConnectAsync(a, b);
        var ended = await _kit.Session(call.SessionId).EndCall(a, null);
        Assert.True(ended.Ok, ended.Error?.Message);

        // What a lost update leaves: b's slot holds the call as it was before it ended.
        await _kit.User(b).Update(new SlotUpdate { Call = call, Phase = SlotPhase.Ongoing });
        Assert.Equal(call.SessionId, (await _kit.SnapshotAsync(b)).ActiveCall?.SessionId);
        return (a, b, c);
    }
}
