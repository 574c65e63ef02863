using CallGrains.Abstractions;
using CallGrains.Grains;
using CallGrains.Grains.Storage;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Storage;
using Orleans.TestingHost;

namespace CallGrains.Tests;

/// <summary>
/// A transition is stored with the updates it owes the parties. When telling a party fails after the transition was
/// stored (its store refuses writes for a while, its silo is dying), the request that won still succeeds, and the
/// party is told later, once, with the seq it would have had.
/// </summary>
public sealed class OutboxTests : IAsyncLifetime
{
    private readonly FlakyStorage _storage = new();
    private InProcessTestCluster _cluster = null!;

    public async Task InitializeAsync()
    {
        var builder = new InProcessTestClusterBuilder(1);
        builder.ConfigureSilo((_, silo) =>
        {
            silo.AddMemoryGrainStorage(StorageNames.PubSub);
            silo.Services.AddKeyedSingleton<IGrainStorage>(StorageNames.Default, (_, _) => _storage);
            silo.AddCallGrains();
            silo.Services.PostConfigure<CallOptions>(ClusterFixture.RaiseQuotas);
        });
        _cluster = builder.Build();
        await _cluster.DeployAsync();
    }

    public async Task DisposeAsync()
    {
        await _cluster.StopAllSilosAsync();
        await _cluster.DisposeAsync();
    }

    [Fact]
    public async Task A_group_change_its_store_refused_is_not_kept_and_can_be_made_again()
    {
        var kit = new CallTestKit(_cluster);
        var uids = (await kit.CreateUsersAsync(3, "gm")).Order(StringComparer.Ordinal).ToArray();
        var groupId = $"g-{Guid.NewGuid():N}";
        var group = kit.Client.GetGrain<IGroupGrain>(groupId);

        // The admin got an error: the group does not exist, neither now nor after the store is back.
        _storage.Fail(groupId);
        await Assert.ThrowsAnyAsync<Exception>(() => group.Create("Team", [uids[0], uids[1]]));
        Assert.Null(await group.GetGroup());
        _storage.Heal(groupId);
        Assert.Null(await group.GetGroup());
        Assert.Equal(GroupOutcome.Done, (await group.Create("Team", [uids[0], uids[1]])).Outcome);

        // A member change that failed did not happen: not in memory, not later; made again, it is.
        _storage.Fail(groupId);
        await Assert.ThrowsAnyAsync<Exception>(() => group.ChangeMembers([uids[2]], [uids[0]]));
        Assert.Equal([uids[0], uids[1]], (await group.GetGroup())!.Members.ToArray());
        _storage.Heal(groupId);
        Assert.Equal([uids[0], uids[1]], (await group.GetGroup())!.Members.ToArray());
        Assert.Equal(GroupOutcome.Done, (await group.ChangeMembers([uids[2]], [uids[0]])).Outcome);
        Assert.Equal([uids[1], uids[2]], (await group.GetGroup())!.Members.ToArray());
    }

    [Theory]
    [InlineData("accept")]
    [InlineData("end")]
    [InlineData("reject")]
    public async Task A_party_whose_store_fails_after_the_transition_is_told_later_and_the_winner_succeeds(string action)
    {
        var (kit, a, b, probe, call) = await CallAsync(action);
        var before = (await kit.SnapshotAsync(a)).Seq;

        // a's store refuses every write: b's action is stored, telling a fails.
        _storage.Fail(a);
        var result = await ActAsync(kit.Session(call.SessionId), action, b, null);
        Assert.True(result.Ok, result.Error?.Message);
        var expected = result.Call!.Status;
        Assert.Equal(expected, (await kit.Session(call.SessionId).Peek())!.Status);

        // The store comes back: the session redelivers, a catches up with one event numbered right after the last.
        await Task.Delay(TimeSpan.FromSeconds(1));
        _storage.Heal(a);
        await CallTestKit.EventuallyAsync(
            async () => (await kit.SnapshotAsync(a)).Seq == before + 1,
            $"{a} told the call is {expected}",
            timeoutMs: 30_000);
        var snapshot = await kit.SnapshotAsync(a);
        Assert.Equal(expected == CallStatus.Ongoing ? call.SessionId : null, snapshot.ActiveCall?.SessionId);
        await probe.WaitForAsync(a, (int)(before + 1));
        var told = probe.For(a)[^1];
        Assert.Equal(before + 1, told.Seq);
        Assert.Equal(expected, told.Call!.Status);
        await EventProbe.SettleAsync();
        GatewayDeathTests.AssertNumberedOnce(probe.For(a));
        await kit.AssertConsistentAsync([a, b], [call.SessionId]);
    }

    [Theory]
    [InlineData("end")]
    [InlineData("reject")]
    public async Task The_device_that_acted_gets_its_update_as_an_event_when_its_response_went_out_without_it(string action)
    {
        var (kit, a, b, probe, call) = await CallAsync(action);
        var before = (await kit.SnapshotAsync(b)).Seq;

        // b acts from its device while b's own store refuses writes: the action stands, but the response cannot carry
        // the seq b's update will get, which the device would otherwise learn from it (PROTOCOL 2).
        _storage.Fail(b);
        var result = await ActAsync(kit.Session(call.SessionId), action, b, "dev");
        Assert.True(result.Ok, result.Error?.Message);
        Assert.True(result.Seq <= before, $"the response carried seq {result.Seq}");

        // Told later, the update reaches that device too, as an event with the next seq: no gap on its socket.
        _storage.Heal(b);
        await CallTestKit.EventuallyAsync(
            () => Task.FromResult(probe.For(b).Any(e => e.Seq == before + 1)),
            $"{b}'s device told of its own {action} with seq {before + 1}",
            timeoutMs: 30_000);
        Assert.Equal(result.Call!.Status, probe.For(b).Single(e => e.Seq == before + 1).Call!.Status);
        await EventProbe.SettleAsync();
        GatewayDeathTests.AssertNumberedOnce(probe.For(b));
    }

    [Fact]
    public async Task The_device_that_answered_is_never_told_the_call_was_answered_elsewhere()
    {
        var (kit, _, b, probe, call) = await CallAsync("accept");
        var before = (await kit.SnapshotAsync(b)).Seq;

        // As above, but b answers: its other devices are told "answered elsewhere" later; the one that answered is not
        // (it would read as the opposite of what it did). It is left a gap in seq, which sync repairs (PROTOCOL 2).
        _storage.Fail(b);
        var result = await ActAsync(kit.Session(call.SessionId), "accept", b, "dev");
        Assert.True(result.Ok, result.Error?.Message);
        _storage.Heal(b);
        await CallTestKit.EventuallyAsync(async () => (await kit.SnapshotAsync(b)).Seq == before + 1, $"{b} told of its answer", timeoutMs: 30_000);
        await EventProbe.SettleAsync();
        Assert.DoesNotContain(probe.For(b), e => e.Reason == CancelReason.AnsweredElsewhere);
        Assert.Equal(call.SessionId, (await kit.SnapshotAsync(b)).ActiveCall?.SessionId);
    }

    private static Task<CallResult> ActAsync(ICallSessionGrain session, string action, string uid, string? deviceId) => action switch
    {
        "accept" => session.AcceptCall(uid, deviceId),
        "end" => session.EndCall(uid, deviceId),
        _ => session.RejectCall(uid, CallStatus.Rejected, deviceId),
    };

    /// <summary>a calls b; ringing, or answered when the action is "end".</summary>
    private async Task<(CallTestKit Kit, string A, string B, EventProbe Probe, CallInfo Call)> CallAsync(string action)
    {
        var kit = new CallTestKit(_cluster);
        var (a, b) = await kit.CreatePairAsync();
        var probe = await kit.WatchAsync(a, b);
        var call = action == "end" ? await kit.ConnectAsync(a, b) : await kit.RingAsync(a, b);
        return (kit, a, b, probe, call);
    }
}
