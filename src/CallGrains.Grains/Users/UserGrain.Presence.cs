using System.Collections.Immutable;
using CallGrains.Abstractions;
using CallGrains.Grains.PushStreams;
using Orleans.Runtime.Placement;

namespace CallGrains.Grains.Users;

/// <summary>
/// Presence: which devices count, the disconnect grace, and where the grain lives. A device counts while its gateway
/// is alive and holds its socket; with none left while in a call, the grace starts, stored and indexed so that it
/// ends even if this grain's silo dies (docs/architecture.md, "After a crash").
/// </summary>
public sealed partial class UserGrain
{
    public async Task GatewayLost(string gatewayId)
    {
        var remaining = State.Devices.RemoveAll(d => d.GatewayId == gatewayId);
        if (remaining.Length != State.Devices.Length)
        {
            logger.GatewayLost(Uid, gatewayId, State.Devices.Length - remaining.Length);
            await SetDevicesAsync(remaining);
        }

        // Done with that gateway whatever happened before: the sweep need not tell this user again.
        presence.Remove(gatewayId, Uid);
    }

    public async Task CheckGrace()
    {
        if (State.GraceEndsAt is not { } ends || !State.Devices.IsEmpty || FreshSlot() is not { } slot)
        {
            await LeaveGraceAsync();
            return;
        }

        if (time.GetUtcNow() < ends)
        {
            ArmGraceTimer(ends);
            return;
        }

        // One-way (a user grain never awaits a session); repeated by the timer and the index until the slot is free.
        logger.GraceExpired(Uid, slot.SessionId);
        GrainFactory.Ref<ICallSessionGrain>(slot.SessionId).Abandon(Uid).Ignore();
    }

    /// <summary>
    /// When every device of the user is on one gateway and it is another silo, moves this grain there once the current
    /// request is done: the gateway's calls to the user and the user's events to the gateway become local calls.
    /// The state moves with the grain (no storage round trip); requests meanwhile wait and follow it.
    /// </summary>
    private void FollowDevices()
    {
        var gatewayId = State.Devices[0].GatewayId;
        if (gatewayId == localGateway.Id || State.Devices.Any(d => d.GatewayId != gatewayId)
            || Gateways.Silo(gatewayId) is not { } silo || membership.CurrentSnapshot.GetSiloStatus(silo) != SiloStatus.Active)
        {
            // Placement takes a hint only to an active silo; a joining or leaving one is not worth moving to.
            return;
        }

        RequestContext.Set(IPlacementDirector.PlacementHintKey, silo);
        this.MigrateOnIdle();
        RequestContext.Remove(IPlacementDirector.PlacementHintKey);
    }

    /// <summary>
    /// Drops devices whose gateway silo cluster membership has declared dead. Not those on a silo this silo's view has
    /// not heard of yet: a host that has just restarted takes sockets before every silo has seen it join.
    /// </summary>
    private async Task PruneDeadGatewaysAsync()
    {
        var alive = State.Devices.RemoveAll(d => gatewayStatus.IsDead(d.GatewayId));
        if (alive.Length != State.Devices.Length)
        {
            await SetDevicesAsync(alive);
        }
    }

    /// <summary>
    /// Asks each gateway holding a device whether it still holds that socket (by epoch), and drops those it does not,
    /// or whose gateway is dead. A gateway that cannot answer keeps its devices (membership decides about it), and a
    /// device registered moments ago is kept (its socket joins the gateway's registry after the upgrade).
    /// </summary>
    private async Task VerifyDevicesAsync()
    {
        var settled = time.GetUtcNow() - NewDeviceAge;
        var phantom = new List<DeviceInfo>();
        foreach (var group in State.Devices.Where(d => d.ConnectedAt < settled).GroupBy(d => d.GatewayId))
        {
            if (gatewayStatus.IsDead(group.Key))
            {
                phantom.AddRange(group);
                continue;
            }

            try
            {
                var held = await gatewayStatus.HeldDevicesAsync(group.Key, Uid).WaitAsync(DeliveryTimeout);
                if (held is { } sockets)
                {
                    phantom.AddRange(group.Where(d => !sockets.Contains(new HeldDevice(d.DeviceId, d.Epoch))));
                }
            }
            catch (Exception ex) when (ex is SiloUnavailableException or OrleansMessageRejectionException or TimeoutException)
            {
                logger.PresenceCheckFailed(ex, Uid, group.Key);
            }
        }

        if (phantom.Count > 0)
        {
            logger.PhantomDevices(Uid, phantom.Count);
            await SetDevicesAsync(State.Devices.RemoveAll(phantom.Contains));
        }
    }

    /// <summary>
    /// Stores a new device list (and any other change in <paramref name="with"/>), keeping the presence index and the
    /// grace in step: a gateway the user no longer has a device on leaves the index; no device left while in a call
    /// starts the grace (its end stored and indexed first), a device back ends it.
    /// </summary>
    private async Task SetDevicesAsync(ImmutableArray<DeviceInfo> devices, UserState? with = null)
    {
        var before = State.Devices;
        var next = (with ?? State) with { Devices = devices };
        var startsGrace = devices.IsEmpty && next.Slot is not null && next.GraceEndsAt is null;
        var endsGrace = !devices.IsEmpty && next.GraceEndsAt is not null;
        if (startsGrace)
        {
            var ends = time.GetUtcNow().AddSeconds(callOptions.Value.DisconnectGraceSeconds);
            await graces.AddAsync(Uid, ends);
            next = next with { GraceEndsAt = ends };
        }
        else if (endsGrace)
        {
            next = next with { GraceEndsAt = null };
        }

        state.State = next;
        await SaveAsync();
        foreach (var gatewayId in before.Select(d => d.GatewayId).Except(devices.Select(d => d.GatewayId)))
        {
            presence.Remove(gatewayId, Uid);
        }

        PushRingToDevicesGone(before);

        if (startsGrace)
        {
            ArmGraceTimer(next.GraceEndsAt!.Value);
        }
        else if (endsGrace)
        {
            StopGrace();
        }

        ArmPresenceCheck();
    }

    private async Task LeaveGraceAsync()
    {
        if (State.GraceEndsAt is not null)
        {
            state.State = State with { GraceEndsAt = null };
            await SaveAsync();
        }

        StopGrace();
    }

    private void StopGrace()
    {
        _graceTimer?.Dispose();
        _graceTimer = null;
        graces.Remove(Uid);
    }

    /// <summary>Checks at the grace's end, then each grace period again until the slot is free (the notice is one-way).</summary>
    private void ArmGraceTimer(DateTimeOffset ends)
    {
        _graceTimer?.Dispose();
        var due = ends - time.GetUtcNow();
        var period = TimeSpan.FromSeconds(callOptions.Value.DisconnectGraceSeconds);
        _graceTimer = this.RegisterGrainTimer(CheckGrace, new GrainTimerCreationOptions(due < TimeSpan.Zero ? TimeSpan.Zero : due, period) { KeepAlive = true });
    }

    /// <summary>While the user holds a call and has devices, checks them with their gateways every PresenceCheckSeconds.</summary>
    private void ArmPresenceCheck()
    {
        if (State.Slot is null || State.Devices.IsEmpty)
        {
            _presenceTimer?.Dispose();
            _presenceTimer = null;
            return;
        }

        if (_presenceTimer is null)
        {
            var period = TimeSpan.FromSeconds(callOptions.Value.PresenceCheckSeconds);
            _presenceTimer = this.RegisterGrainTimer(
                async () =>
                {
                    if (FreshSlot() is not null)
                    {
                        await VerifyDevicesAsync();
                    }

                    ArmPresenceCheck();
                },
                new GrainTimerCreationOptions(period, period));
        }
    }
}
