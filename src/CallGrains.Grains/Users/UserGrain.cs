using CallGrains.Abstractions;
using CallGrains.Grains.Deadlines;
using CallGrains.Grains.PushStreams;
using CallGrains.Grains.Storage;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace CallGrains.Grains.Users;

/// <summary>
/// One user. Keeps the one active-call slot that makes the user busy, the user's devices and the seq that numbers
/// the user's events. It answers session grains and publishes to gateway streams; it never awaits a session grain,
/// so session → user calls can never form a cycle.
/// </summary>
/// <remarks>
/// Presence is a lease on the truth, not a flag: a device counts while its gateway is alive and holds its socket.
/// Devices go when their socket unregisters (with its epoch), when their gateway is declared dead (the presence
/// index tells every user that had a device there), when a delivery finds the gateway gone, and, while in a call,
/// when a periodic check finds the gateway no longer holds the socket. With no device left in a call the grace
/// starts; its end is stored and indexed durably, so it is honoured even when this grain's silo dies.
/// <para>
/// Placed on the silo that first needs it (<c>PreferLocalPlacement</c>): a device connecting to a user whose grain is
/// not in memory (new, collected after 15 idle minutes, or lost with a silo) brings it up on its own gateway's silo,
/// where it would otherwise move to (<see cref="FollowDevices"/>) after an activation on any silo. A user called
/// while no device is connected comes up beside the call's session.
/// </para>
/// </remarks>
[Orleans.Placement.PreferLocalPlacement]
public sealed partial class UserGrain(
    [PersistentState("user", StorageNames.Default)] IPersistentState<UserState> state,
    IOptions<DeviceOptions> deviceOptions,
    IOptions<CallOptions> callOptions,
    IOptions<PushTokenOptions> pushOptions,
    IClusterMembershipService membership,
    GatewayStatus gatewayStatus,
    GatewayIdentity localGateway,
    IPresenceIndex presence,
    IGraceDeadlines graces,
    TimeProvider time,
    ILogger<UserGrain> logger) : Grain, IUserGrain, IUserSlotGrain, IGrainMigrationParticipant
{
    private const string InitiatesKey = "initiates";

    // Revocation close orders are repeated this often, this many times, while devices of revoked tokens remain.
    private static readonly TimeSpan RevocationRepeat = TimeSpan.FromSeconds(5);
    private const int RevocationRepeats = 6;

    // A device registered this recently may not be in its gateway's registry yet (the socket is added after the upgrade).
    private static readonly TimeSpan NewDeviceAge = TimeSpan.FromSeconds(10);

    private IGrainTimer? _graceTimer;
    private IGrainTimer? _presenceTimer;
    private IGrainTimer? _revocationTimer;
    private int _revocationRepeats;

    // The user's initiate quota. In memory: this activation is the only one of the user in the cluster, so it sees every
    // initiate from every device and node; it moves with the grain (migration), and an activation that went idle long
    // enough to be collected would have found the bucket full again anyway (it refills in seconds).
    private RateBucket? _initiates;
    private bool _handedOver;

    private string Uid => this.GetPrimaryKeyString();

    private UserState State => state.State;

    private TimeSpan DeliveryTimeout => TimeSpan.FromMilliseconds(callOptions.Value.DeliveryTimeoutMilliseconds);

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        // A grace that started before this activation (a crash, a move of this grain) keeps its stored end.
        if (State.GraceEndsAt is { } ends)
        {
            ArmGraceTimer(ends);
        }

        ArmPresenceCheck();

        // The last event is stored before it is published: an activation that died in between (kill -9, a lost
        // message) took it with it, and the next update would give the devices the seq after it, leaving a gap no
        // redelivery fills (a repeat of an older update is not the last one any more). Sent again before anything
        // else, it arrives in order; a gateway drops it where it arrived before (its seq is not above what was seen).
        // The device that acted gets it too (SlotRules.AlsoToActor): the response to carry its seq may have died with it.
        if (State.LastEvent is { } last && !State.Devices.IsEmpty && !_handedOver)
        {
            await PublishAsync(SlotRules.AlsoToActor(last.Delivery.Event) ? last.Delivery with { ExceptDeviceId = null } : last.Delivery);
        }
    }

    public async Task<bool> Create(string name)
    {
        if (State.Profile is not null)
        {
            return false;
        }

        state.State = State with { Profile = new UserRef(Uid, name) };
        await SaveAsync();
        return true;
    }

    public Task<UserRef?> GetProfile() => Task.FromResult(Exists() ? State.Profile : null);

    public Task<long?> GetTokenGeneration() => Task.FromResult(Exists() ? (long?)State.TokenGeneration : null);

    public async Task<bool> RevokeTokens()
    {
        if (!Exists())
        {
            return false;
        }

        state.State = State with { TokenGeneration = State.TokenGeneration + 1 };
        await SaveAsync();
        await PublishAsync(new GatewayDelivery(Uid, null, null) { CloseCode = (int)CloseCodes.Revoked, BelowGeneration = State.TokenGeneration });

        // A close order can be lost (a gateway busy or restarting): it is repeated until the revoked sockets have gone.
        _revocationRepeats = 0;
        _revocationTimer?.Dispose();
        _revocationTimer = this.RegisterGrainTimer(
            async () =>
            {
                if (++_revocationRepeats > RevocationRepeats || !await CloseRevokedAsync())
                {
                    _revocationTimer?.Dispose();
                    _revocationTimer = null;
                }
            },
            new GrainTimerCreationOptions(RevocationRepeat, RevocationRepeat) { KeepAlive = true });
        return true;
    }

    public async Task<long> Notify(CallEvent evt, string? onlyDeviceId)
    {
        // Unnumbered: a signal goes to one device and must not open a gap in the seq of the others.
        await PublishAsync(new GatewayDelivery(Uid, null, evt with { Seq = State.Seq }) { OnlyDeviceId = onlyDeviceId });
        return State.Seq;
    }

    public async Task<UserSnapshot?> GetSnapshot()
    {
        if (!Exists())
        {
            return null;
        }

        await PruneDeadGatewaysAsync();
        return BuildSnapshot();
    }

    public async Task<DeviceRegistration> RegisterDevice(string deviceId, string gatewayId, long tokenGeneration)
    {
        if (!Exists())
        {
            return new DeviceRegistration(null, new CallError(CallErrorCode.UidNotFound, $"user {Uid} does not exist"));
        }

        if (tokenGeneration != State.TokenGeneration)
        {
            return new DeviceRegistration(null, new CallError(CallErrorCode.UserNotLoggedIn, "the auth token was revoked"));
        }

        await PruneDeadGatewaysAsync();
        var max = deviceOptions.Value.MaxDevicesPerUser;
        if (State.Devices.Count(d => d.DeviceId != deviceId) >= max)
        {
            // Before refusing, make sure the devices that fill the cap are real (an unregister may have been lost).
            await VerifyDevicesAsync();
        }

        var others = State.Devices.RemoveAll(d => d.DeviceId == deviceId);
        if (others.Length >= max)
        {
            return new DeviceRegistration(null, new CallError(
                CallErrorCode.TooManyRequests,
                $"user {Uid} already has {others.Length} devices connected (limit {max})"));
        }

        if (!State.Devices.Any(d => d.GatewayId == gatewayId))
        {
            // Indexed before it is stored: no stored device lacks the entry that finds it if its gateway dies.
            await presence.AddAsync(gatewayId, Uid);
        }

        var epoch = State.Epochs + 1;
        var device = new DeviceInfo(deviceId, gatewayId, time.GetUtcNow()) { Epoch = epoch, TokenGeneration = tokenGeneration };
        await SetDevicesAsync(others.Add(device), State with { Epochs = epoch });
        FollowDevices();
        return new DeviceRegistration(BuildSnapshot(), null) { Epoch = epoch };
    }

    public async Task<bool> RestoreDevice(string deviceId, string gatewayId, long epoch, long tokenGeneration)
    {
        if (State.Devices.FirstOrDefault(d => d.DeviceId == deviceId) is { } registered)
        {
            return registered.GatewayId == gatewayId && registered.Epoch == epoch;
        }

        if (!Exists() || tokenGeneration != State.TokenGeneration || epoch > State.Epochs
            || State.Devices.Length >= deviceOptions.Value.MaxDevicesPerUser)
        {
            return false;
        }

        if (!State.Devices.Any(d => d.GatewayId == gatewayId))
        {
            await presence.AddAsync(gatewayId, Uid);
        }

        logger.DeviceRestored(Uid, deviceId, gatewayId);
        await SetDevicesAsync(State.Devices.Add(new DeviceInfo(deviceId, gatewayId, time.GetUtcNow()) { Epoch = epoch, TokenGeneration = tokenGeneration }));
        return true;
    }

    public async Task UnregisterDevice(string deviceId, string gatewayId, long epoch)
    {
        var remaining = State.Devices.RemoveAll(d => d.DeviceId == deviceId && d.GatewayId == gatewayId && d.Epoch == epoch);
        if (remaining.Length != State.Devices.Length)
        {
            await SetDevicesAsync(remaining);
        }
    }

    public async Task<Reservation> Reserve(SlotRequest request)
    {
        if (Refuse(request) is { } refused)
        {
            return refused;
        }

        var answer = SlotRules.Reserve(State, FreshSlot(), request);
        var taking = answer.Outcome == ReservationOutcome.Reserved && State.Slot?.SessionId != request.Call.SessionId;
        var next = State;
        if (taking || answer.Outcome == ReservationOutcome.Taken)
        {
            (next, var limited) = SlotRules.CountIncoming(State, request, time.GetUtcNow(), callOptions.Value.MaxUnansweredFromCallerPerDay);
            if (limited)
            {
                return new Reservation { Outcome = ReservationOutcome.Limited, Seq = State.Seq };
            }
        }

        if (taking)
        {
            next = next with { Slot = SlotRules.Pending(next, request) };
        }

        if (!ReferenceEquals(next, State))
        {
            state.State = next;
            await SaveAsync();
            ArmPresenceCheck();
        }

        return answer;
    }

    public Task<Reservation> Probe(SlotRequest request) => Task.FromResult(Refuse(request) ?? SlotRules.Reserve(State, FreshSlot(), request));

    public void OnDehydrate(IDehydrationContext dehydrationContext) => dehydrationContext.TryAddValue(InitiatesKey, _initiates);

    public void OnRehydrate(IRehydrationContext rehydrationContext)
    {
        rehydrationContext.TryGetValue(InitiatesKey, out _initiates);

        // Moved here whole (to its devices' gateway): the activation before finished its publishes before it went.
        _handedOver = true;
    }

    public async Task<long> Update(SlotUpdate update)
    {
        var slot = FreshSlot();
        if (SlotRules.IsRepeat(State, slot, update))
        {
            // Applied before (the session redelivers until it knows): the same event again, with the seq it got.
            if (State.LastEvent is { } last && last.Update == new AppliedUpdate(update.Call.SessionId, update.Version))
            {
                // To the devices this delivery is for: a redelivery also goes to the device that acted (see the session's outbox).
                await PublishAsync(last.Delivery with { ExceptDeviceId = update.ExceptDeviceId });
            }

            return State.Seq;
        }

        var (next, delivery, mismatch) = SlotRules.Apply(Uid, State, slot, update);
        if (mismatch)
        {
            logger.SlotMismatch(update.Call.SessionId, Uid, slot?.SessionId);
        }

        var freed = next.Slot is null && State.Slot is not null;
        if (!ReferenceEquals(next, State))
        {
            state.State = freed ? next with { GraceEndsAt = null } : next;
            await SaveAsync();
        }

        if (freed)
        {
            StopGrace();
        }

        if (delivery is not null)
        {
            await PublishAsync(delivery);
        }

        return State.Seq;
    }

    /// <summary>
    /// Whether the user exists. A grain woken for a uid that names no one (a call or a lookup of a random uid) goes as
    /// soon as it has answered, as a group grain does: unknown ids leave nothing in memory.
    /// </summary>
    private bool Exists()
    {
        if (State.Profile is null)
        {
            this.DeactivateOnIdle();
            return false;
        }

        return true;
    }

    /// <summary>
    /// The refusal a reservation or probe meets before the slot is looked at: no such user, or a new call past the
    /// caller's initiate quota (one is taken otherwise).
    /// </summary>
    private Reservation? Refuse(SlotRequest request)
    {
        if (!Exists())
        {
            return new Reservation { Outcome = ReservationOutcome.UserNotFound };
        }

        if (!request.Initiates)
        {
            return null;
        }

        var options = callOptions.Value;
        var now = time.GetUtcNow();
        var taken = (_initiates ?? RateBucket.Full(options.InitiateBurst, options.InitiatesPerMinute, now)).Take(now);
        if (taken is null)
        {
            return new Reservation { Outcome = ReservationOutcome.Limited, Seq = State.Seq };
        }

        _initiates = taken;
        return null;
    }

    /// <summary>Stores the state; when the store fails, the change is forgotten here too and reloaded next time.</summary>
    private async Task SaveAsync()
    {
        try
        {
            await state.WriteStateAsync();
        }
        catch
        {
            this.DeactivateOnIdle();
            throw;
        }
    }

    /// <summary>The slot, unless it is a ringing call whose session has let it lapse.</summary>
    private CallSlot? FreshSlot()
    {
        var slot = State.Slot;
        if (slot is not null && SlotRules.IsLapsed(slot, time.GetUtcNow()))
        {
            logger.StaleSlotReleased(Uid, slot.SessionId);
            state.State = State with { Slot = null };
            return null;
        }

        return slot;
    }

    private UserSnapshot? BuildSnapshot() => SlotRules.Snapshot(Uid, State, FreshSlot());
}
