using CallGrains.Abstractions;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Core.Internal;

namespace CallGrains.Tests;

/// <summary>
/// Grain activations come and go (settled calls leave at once, idle users after the collection age); what a user
/// sees must not depend on whether a grain was in memory.
/// </summary>
[Collection(ClusterGroup.Name)]
public sealed class ActivationLifetimeTests(ClusterFixture fixture)
{
    private readonly CallTestKit _kit = new(fixture.Cluster);

    [Fact]
    public async Task Settled_calls_leave_memory_and_still_answer_from_storage()
    {
        var uids = await _kit.CreateUsersAsync(12);
        var calls = new List<(string Caller, CallInfo Call)>();
        for (var i = 0; i < uids.Length; i += 2)
        {
            calls.Add((uids[i], await _kit.ConnectAsync(uids[i], uids[i + 1])));
        }

        // Four of the six end; two stay ongoing.
        var ended = new Dictionary<string, CallInfo>();
        foreach (var (caller, call) in calls.Take(4))
        {
            var result = await _kit.Session(call.SessionId).EndCall(caller, null);
            Assert.True(result.Ok, result.Error?.Message);
            ended[call.SessionId] = result.Call!;
        }

        var ongoing = calls.Skip(4).Select(c => c.Call.SessionId).ToHashSet();
        var active = await WaitForActiveAsync(keys => !keys.Overlaps(ended.Keys));
        Assert.False(active.Overlaps(ended.Keys), "ended calls are still in memory");
        Assert.Subset(active, ongoing);

        foreach (var (caller, call) in calls.Take(4))
        {
            var read = await _kit.Session(call.SessionId).GetCall(caller);
            Assert.True(read.Ok, read.Error?.Message);
            Assert.Equal(CallStatus.Ended, read.Call!.Status);
            Assert.Equal(ended[call.SessionId].EndedAt, read.Call.EndedAt);
            Assert.Equal(call.JoinedAt, read.Call.JoinedAt);
            var again = await _kit.Session(call.SessionId).EndCall(caller, null);
            Assert.Equal(CallErrorCode.CallEnded, again.Error?.Code);
        }

        await _kit.AssertFreeAsync([.. uids.Take(8)]);
    }

    [Fact]
    public async Task Users_and_an_ongoing_call_reloaded_from_storage_are_unchanged()
    {
        var (a, b) = await _kit.CreatePairAsync();
        var gateway = _kit.GatewayIds[0];
        Assert.Null((await _kit.User(a).RegisterDevice("phone", gateway, 0)).Error);
        Assert.Null((await _kit.User(b).RegisterDevice("tablet", gateway, 0)).Error);
        var call = await _kit.ConnectAsync(a, b);
        var before = (await _kit.SnapshotAsync(a), await _kit.SnapshotAsync(b));

        foreach (var grain in new IAddressable[] { _kit.User(a), _kit.User(b), _kit.Session(call.SessionId) })
        {
            await grain.AsReference<IGrainManagementExtension>().DeactivateOnIdle();
        }

        var active = await WaitForActiveAsync(keys => !keys.Contains(a) && !keys.Contains(b) && !keys.Contains(call.SessionId));
        Assert.DoesNotContain(call.SessionId, active);

        var after = (await _kit.SnapshotAsync(a), await _kit.SnapshotAsync(b));
        foreach (var (was, now) in new[] { (before.Item1, after.Item1), (before.Item2, after.Item2) })
        {
            Assert.Equal(was.Seq, now.Seq);
            Assert.Equal(was.ActiveCall?.SessionId, now.ActiveCall?.SessionId);
            Assert.Equal(CallStatus.Ongoing, now.ActiveCall?.Status);
            Assert.Equal(was.Devices.Select(d => (d.DeviceId, d.GatewayId)), now.Devices.Select(d => (d.DeviceId, d.GatewayId)));
        }

        var end = await _kit.Session(call.SessionId).EndCall(b, null);
        Assert.True(end.Ok, end.Error?.Message);
        Assert.Equal(before.Item2.Seq + 1, end.Seq);
        await _kit.AssertFreeAsync(a, b);
    }

    [Fact]
    public async Task A_user_moves_to_the_silo_of_the_gateway_its_devices_use_and_keeps_its_call()
    {
        var (a, b) = await _kit.CreatePairAsync();
        var call = await _kit.ConnectAsync(a, b);
        var seq = (await _kit.SnapshotAsync(a)).Seq;
        var silos = fixture.Cluster.Silos.Select(s => s.SiloAddress).ToArray();

        // Each silo's gateway in turn: the grain follows the device there.
        foreach (var (silo, gateway) in silos.Zip(_kit.GatewayIds))
        {
            Assert.Null((await _kit.User(a).RegisterDevice("phone", gateway, 0)).Error);
            var management = _kit.Client.GetGrain<IManagementGrain>(0);
            await CallTestKit.EventuallyAsync(
                async () => (await management.GetDetailedGrainStatistics()).Any(s => s.GrainId.Key.ToString() == a && s.SiloAddress.Equals(silo)),
                $"{a} hosted on {silo}");
            var snapshot = await _kit.SnapshotAsync(a);
            Assert.Equal(call.SessionId, snapshot.ActiveCall?.SessionId);
            Assert.Equal(seq, snapshot.Seq);
            Assert.Equal(gateway, Assert.Single(snapshot.Devices).GatewayId);
        }

        Assert.True((await _kit.Session(call.SessionId).EndCall(a, "phone")).Ok);
        await _kit.AssertFreeAsync(a, b);
    }

    [Fact]
    public async Task A_user_not_in_memory_comes_up_on_the_silo_of_the_gateway_its_device_connects_to()
    {
        // Users whose grains were collected (idle, or lost with a silo): the next connect brings each one up.
        var uids = await _kit.CreateUsersAsync(40);
        foreach (var uid in uids)
        {
            await _kit.User(uid).AsReference<IGrainManagementExtension>().DeactivateOnIdle();
        }

        Assert.False((await WaitForActiveAsync(keys => !keys.Overlaps(uids))).Overlaps(uids), "the users are still in memory");
        var management = _kit.Client.GetGrain<IManagementGrain>(0);
        var silos = fixture.Cluster.Silos;
        for (var i = 0; i < uids.Length; i++)
        {
            // The gateway registers the device from its own silo, as a co-hosted gateway does.
            var silo = silos[i % silos.Count];
            var gateway = silo.ServiceProvider.GetRequiredService<GatewayIdentity>().Id;
            var user = silo.ServiceProvider.GetRequiredService<IGrainFactory>().GetGrain<IUserGrain>(uids[i]);
            var registration = await user.RegisterDevice("phone", gateway, 0);
            Assert.Null(registration.Error);

            // Where the user is the moment the connect is answered: a grain that came up elsewhere is still there.
            var hosts = (await management.GetDetailedGrainStatistics())
                .Where(s => s.GrainId.Key.ToString() == uids[i]).Select(s => s.SiloAddress).ToList();
            Assert.Equal([silo.SiloAddress], hosts);
            await user.UnregisterDevice("phone", gateway, registration.Epoch);
        }
    }

    [Fact]
    public async Task Calls_to_users_that_do_not_exist_leave_no_activation_behind()
    {
        var caller = (await _kit.CreateUsersAsync(1, "m"))[0];

        // Half sort before the caller, half after: each order of reservation wakes the unknown user's grain.
        var unknown = Enumerable.Range(0, 50).Select(i => $"{(i % 2 == 0 ? "a" : "z")}nobody{i}-{Guid.NewGuid():N}").ToList();
        foreach (var uid in unknown)
        {
            Assert.Equal(CallErrorCode.UidNotFound, (await _kit.CallAsync(caller, uid)).Error?.Code);
        }

        var active = await WaitForActiveAsync(keys => !keys.Overlaps(unknown));
        Assert.Empty(active.Intersect(unknown));
        Assert.Contains(caller, active);
    }

    /// <summary>The keys of every grain activation in the cluster, once <paramref name="done"/> holds (at most 10 s).</summary>
    private async Task<HashSet<string>> WaitForActiveAsync(Func<HashSet<string>, bool> done)
    {
        var management = _kit.Client.GetGrain<IManagementGrain>(0);
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (true)
        {
            var keys = (await management.GetDetailedGrainStatistics()).Select(s => s.GrainId.Key.ToString()!).ToHashSet();
            if (done(keys) || DateTime.UtcNow > deadline)
            {
                return keys;
            }

            await Task.Delay(100);
        }
    }
}
