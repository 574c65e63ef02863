using CallGrains.Abstractions;

namespace CallGrains.Tests;

[Collection(ClusterGroup.Name)]
public sealed class UserTests(ClusterFixture fixture)
{
    private readonly CallTestKit _kit = new(fixture.Cluster);

    [Fact]
    public async Task A_user_is_created_once()
    {
        var uid = $"solo-{Guid.NewGuid():N}";

        Assert.True(await _kit.User(uid).Create("Ada"));
        Assert.False(await _kit.User(uid).Create("Someone else"));

        Assert.Equal(new UserRef(uid, "Ada"), await _kit.User(uid).GetProfile());
    }

    [Fact]
    public async Task An_unknown_user_has_no_profile_and_cannot_register_devices()
    {
        var uid = $"ghost-{Guid.NewGuid():N}";

        Assert.Null(await _kit.User(uid).GetProfile());
        Assert.Null(await _kit.User(uid).GetSnapshot());
        Assert.Equal(CallErrorCode.UidNotFound, (await _kit.User(uid).RegisterDevice("d", "gw", 0)).Error!.Code);
    }

    [Fact]
    public async Task Devices_are_capped_per_user_and_a_reconnecting_device_keeps_its_place()
    {
        var uid = (await _kit.CreateUsersAsync(1))[0];
        var user = _kit.User(uid);
        var (gw1, gw2) = (_kit.GatewayIds[0], _kit.GatewayIds[1]);
        var epochs = new List<long>();
        for (var i = 0; i < 10; i++)
        {
            var registration = await user.RegisterDevice($"d{i}", gw1, 0);
            Assert.Null(registration.Error);
            epochs.Add(registration.Epoch);
        }

        var refused = await user.RegisterDevice("d10", gw1, 0);
        Assert.Equal(CallErrorCode.TooManyRequests, refused.Error!.Code);

        // The same device coming back through another gateway replaces its old entry instead of adding one.
        var moved = await user.RegisterDevice("d3", gw2, 0);
        Assert.Null(moved.Error);
        Assert.Equal(10, moved.Snapshot!.Devices.Length);
        Assert.Equal(gw2, moved.Snapshot.Devices.Single(d => d.DeviceId == "d3").GatewayId);

        await user.UnregisterDevice("d0", gw1, epochs[0]);
        Assert.Null((await user.RegisterDevice("d10", gw1, 0)).Error);
    }

    [Fact]
    public async Task A_device_that_moved_gateway_is_not_removed_by_its_old_gateway()
    {
        var uid = (await _kit.CreateUsersAsync(1))[0];
        var user = _kit.User(uid);
        var (gw1, gw2) = (_kit.GatewayIds[0], _kit.GatewayIds[1]);
        var old = await user.RegisterDevice("phone", gw1, 0);
        await user.RegisterDevice("phone", gw2, 0);

        await user.UnregisterDevice("phone", gw1, old.Epoch);

        Assert.Equal(gw2, Assert.Single((await user.GetSnapshot())!.Devices).GatewayId);
    }

    [Fact]
    public async Task An_old_sockets_late_cleanup_does_not_remove_a_newer_registration_of_the_same_device()
    {
        var uid = (await _kit.CreateUsersAsync(1))[0];
        var user = _kit.User(uid);
        var gw = _kit.GatewayIds[0];
        var first = await user.RegisterDevice("phone", gw, 0);

        // The device reconnects to the same gateway before the first socket's cleanup runs.
        var second = await user.RegisterDevice("phone", gw, 0);
        await user.UnregisterDevice("phone", gw, first.Epoch);

        Assert.True(second.Epoch > first.Epoch);
        var device = Assert.Single((await user.GetSnapshot())!.Devices);
        Assert.Equal(second.Epoch, device.Epoch);

        await user.UnregisterDevice("phone", gw, second.Epoch);
        Assert.Empty((await user.GetSnapshot())!.Devices);
    }

    [Fact]
    public async Task Devices_on_a_gateway_that_is_not_in_the_cluster_are_dropped()
    {
        var uid = (await _kit.CreateUsersAsync(1))[0];
        var user = _kit.User(uid);
        var gone = SiloAddress.New(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 1), 1).ToParsableString();
        await user.RegisterDevice("old-phone", gone, 0);
        await user.RegisterDevice("laptop", _kit.GatewayIds[0], 0);

        var snapshot = (await user.GetSnapshot())!;

        Assert.Equal("laptop", Assert.Single(snapshot.Devices).DeviceId);
    }

    [Fact]
    public async Task Devices_on_a_gateway_that_has_just_started_are_kept_before_membership_has_seen_it()
    {
        var uid = (await _kit.CreateUsersAsync(1))[0];
        var user = _kit.User(uid);

        // A host restarted a moment ago: newer than every silo this cluster knows, not yet in its membership view.
        var fresh = SiloAddress.New(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 1), int.MaxValue - 1).ToParsableString();
        await user.RegisterDevice("phone", fresh, 0);
        var caller = (await _kit.CreateUsersAsync(1, "c"))[0];
        var call = await _kit.RingAsync(caller, uid);
        Assert.True((await _kit.Session(call.SessionId).RejectCall(caller, CallStatus.Cancelled, null)).Ok);

        // Its events could not be handed over (the gateway may get them once the view catches up), but the device stays,
        // and the call's updates were applied.
        var snapshot = (await user.GetSnapshot())!;
        Assert.Equal(fresh, Assert.Single(snapshot.Devices).GatewayId);
        Assert.Equal(2, snapshot.Seq);
        Assert.Empty(snapshot.Ringing);
    }

    [Fact]
    public async Task The_snapshot_shows_a_ringing_call_to_the_callee_and_the_active_call_to_the_caller()
    {
        var uids = await _kit.CreateUsersAsync(2);
        var call = await _kit.RingAsync(uids[0], uids[1]);

        var caller = await _kit.SnapshotAsync(uids[0]);
        var callee = await _kit.SnapshotAsync(uids[1]);

        Assert.Equal(call.SessionId, caller.ActiveCall!.SessionId);
        Assert.Empty(caller.Ringing);
        Assert.Null(callee.ActiveCall);
        Assert.Equal(call.SessionId, Assert.Single(callee.Ringing).SessionId);
        Assert.Equal(caller.Name, callee.Ringing[0].Initiator.Name);
    }
}
