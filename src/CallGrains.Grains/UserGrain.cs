using System.Collections.Immutable;
using CallGrains.Abstractions;
using CallGrains.Grains.Delivery;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Runtime.Placement;

namespace CallGrains.Grains;

[GenerateSerializer, Immutable, Alias("cg.UserState")]
public sealed record UserState
{
    [Id(0)] public UserRef? Profile { get; init; }
    [Id(1)] public long Seq { get; init; }
    [Id(2)] public CallSlot? Slot { get; init; }
    [Id(3)] public ImmutableArray<DeviceInfo> Devices { get; init; } = [];

    /// <summary>Tokens carry the generation they were issued in; revoking moves it on.</summary>
    [Id(4)] public long TokenGeneration { get; init; }
}

/// <summary>The one call a user is in, as the session that holds it last told the user.</summary>
[GenerateSerializer, Immutable, Alias("cg.CallSlot")]
public sealed record CallSlot
{
    [Id(0)] public required CallInfo Call { get; init; }
    [Id(1)] public required CallRole Role { get; init; }
    [Id(2)] public required string PeerId { get; init; }
    [Id(3)] public required SlotPhase Phase { get; init; }
    [Id(4)] public DateTimeOffset? ExpiresAt { get; init; }

    public string SessionId => Call.SessionId;
}

/// <summary>
/// One user. Keeps the one active-call slot that makes the user busy, the user's devices and the seq that numbers
/// the user's events. It answers session grains and publishes to gateway streams; it never calls a session grain,
/// so session → user calls can never form a cycle.
/// </summary>
public sealed class UserGrain(
    [PersistentState("user", StorageNames.Default)] IPersistentState<UserState> state,
    IOptions<DeviceOptions> deviceOptions,
    IOptions<CallOptions> callOptions,
    IClusterMembershipService membership,
    GatewayIdentity localGateway,
    TimeProvider time,
    ILogger<UserGrain> logger) : Grain, IUserGrain
{
    private IGrainTimer? _graceTimer;

    private string Uid => this.GetPrimaryKeyString();

    private UserState State => state.State;

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

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        // A user who holds a call with no device (after a crash or a move of this grain) still gets the grace.
        ArmGraceIfGone();
        return Task.CompletedTask;
    }

    public Task<UserRef?> GetProfile() => Task.FromResult(State.Profile);

    public Task<long?> GetTokenGeneration() => Task.FromResult(State.Profile is null ? null : (long?)State.TokenGeneration);

    public async Task<bool> RevokeTokens()
    {
        if (State.Profile is null)
        {
            return false;
        }

        state.State = State with { TokenGeneration = State.TokenGeneration + 1 };
        await SaveAsync();
        await PublishAsync(new GatewayDelivery(Uid, null, null) { CloseCode = Limits.CloseRevoked });
        return true;
    }

    public async Task<long> Notify(CallEvent evt, string? onlyDeviceId)
    {
        var numbered = evt with { Seq = State.Seq + 1 };
        state.State = State with { Seq = numbered.Seq };
        await SaveAsync();
        await PublishAsync(new GatewayDelivery(Uid, null, numbered) { OnlyDeviceId = onlyDeviceId });
        return State.Seq;
    }

    public Task<UserSnapshot?> GetSnapshot()
    {
        PruneDeadGateways();
        return Task.FromResult(BuildSnapshot());
    }

    public async Task<DeviceRegistration> RegisterDevice(string deviceId, string gatewayId, long tokenGeneration)
    {
        if (State.Profile is null)
        {
            return new DeviceRegistration(null, new CallError(ErrorCode.UidNotFound, $"user {Uid} does not exist"));
        }

        if (tokenGeneration != State.TokenGeneration)
        {
            return new DeviceRegistration(null, new CallError(ErrorCode.UserNotLoggedIn, "the auth token was revoked"));
        }

        PruneDeadGateways();
        var others = State.Devices.RemoveAll(d => d.DeviceId == deviceId);
        if (others.Length >= deviceOptions.Value.MaxDevicesPerUser)
        {
            return new DeviceRegistration(null, new CallError(
                ErrorCode.TooManyRequests,
                $"user {Uid} already has {others.Length} devices connected (limit {deviceOptions.Value.MaxDevicesPerUser})"));
        }

        state.State = State with { Devices = others.Add(new DeviceInfo(deviceId, gatewayId, time.GetUtcNow())) };
        await SaveAsync();
        _graceTimer?.Dispose();
        _graceTimer = null;
        FollowDevices();
        return new DeviceRegistration(BuildSnapshot(), null);
    }

    public async Task UnregisterDevice(string deviceId, string gatewayId)
    {
        var remaining = State.Devices.RemoveAll(d => d.DeviceId == deviceId && d.GatewayId == gatewayId);
        if (remaining.Length != State.Devices.Length)
        {
            state.State = State with { Devices = remaining };
            await SaveAsync();
            ArmGraceIfGone();
        }
    }

    public async Task<Reservation> Reserve(SlotRequest request)
    {
        var answer = Decide(request);
        if (answer.Outcome == ReservationOutcome.Reserved && State.Slot?.SessionId != request.Call.SessionId)
        {
            // The caller's slot shows the call with the caller's own profile, which only this grain knows.
            var call = request.Role == CallRole.Caller ? request.Call with { Initiator = State.Profile! } : request.Call;
            state.State = State with
            {
                Slot = new CallSlot
                {
                    Call = call,
                    Role = request.Role,
                    PeerId = request.PeerId,
                    Phase = SlotPhase.Pending,
                    ExpiresAt = request.ExpiresAt,
                },
            };
            await SaveAsync();
        }

        return answer;
    }

    public Task<Reservation> Probe(SlotRequest request) => Task.FromResult(Decide(request));

    public async Task<long> Update(SlotUpdate update)
    {
        var sessionId = update.Call.SessionId;
        var slot = FreshSlot();
        var next = State;
        if (slot?.SessionId == sessionId)
        {
            next = next with { Slot = update.Phase == SlotPhase.Free ? null : slot with { Call = update.Call, Phase = update.Phase } };
        }
        else if (slot is null && update.Phase == SlotPhase.Ongoing)
        {
            // The slot went stale (the session was slow past the ring deadline); the user did join this call.
            next = next with { Slot = NewSlot(update, SlotPhase.Ongoing) };
        }
        else if (update.Phase != SlotPhase.Free)
        {
            logger.SlotMismatch(sessionId, Uid, slot?.SessionId);
        }

        var evt = update.Event is null ? null : update.Event with { Seq = next.Seq + 1, Call = update.Event.Call ?? update.Call };
        if (evt is not null)
        {
            next = next with { Seq = evt.Seq };
        }

        if (!ReferenceEquals(next, State))
        {
            state.State = next;
            await SaveAsync();
        }

        if (evt is not null)
        {
            await PublishAsync(new GatewayDelivery(Uid, update.ExceptDeviceId, evt));
        }

        return State.Seq;
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

    private CallSlot NewSlot(SlotUpdate update, SlotPhase phase) => new()
    {
        Call = update.Call,
        Role = update.Call.Initiator.Uid == Uid ? CallRole.Caller : CallRole.Callee,
        PeerId = update.Call.Initiator.Uid == Uid ? update.Call.ReceiverId : update.Call.Initiator.Uid,
        Phase = phase,
    };

    private Reservation Decide(SlotRequest request)
    {
        if (State.Profile is null)
        {
            return new Reservation { Outcome = ReservationOutcome.UserNotFound };
        }

        var slot = FreshSlot();
        if (slot is null || slot.SessionId == request.Call.SessionId)
        {
            return new Reservation { Outcome = ReservationOutcome.Reserved, Seq = State.Seq, Profile = State.Profile };
        }

        var glare = slot.Phase is SlotPhase.Pending or SlotPhase.Ringing
            && slot.Role != request.Role
            && slot.PeerId == request.PeerId
            && slot.Call.ReceiverType == ReceiverType.User
            && request.Call.ReceiverType == ReceiverType.User;
        return new Reservation
        {
            Outcome = glare ? ReservationOutcome.Glare : ReservationOutcome.Taken,
            Seq = State.Seq,
            HeldBy = slot.SessionId,
            HeldRole = slot.Role,
            HeldPhase = slot.Phase,
            Profile = State.Profile,
        };
    }

    /// <summary>The slot, unless it is a ringing call whose session has let it lapse.</summary>
    private CallSlot? FreshSlot()
    {
        var slot = State.Slot;
        if (slot is { ExpiresAt: { } expires } && slot.Phase != SlotPhase.Ongoing && time.GetUtcNow() > expires)
        {
            logger.StaleSlotReleased(Uid, slot.SessionId);
            state.State = State with { Slot = null };
            return null;
        }

        return slot;
    }

    private UserSnapshot? BuildSnapshot()
    {
        if (State.Profile is null)
        {
            return null;
        }

        var slot = FreshSlot();
        var ringing = slot is { Role: CallRole.Callee, Phase: SlotPhase.Ringing };
        var active = slot is not null && !ringing && (slot.Phase == SlotPhase.Ongoing || slot.Role == CallRole.Caller);
        return new UserSnapshot
        {
            Uid = Uid,
            Name = State.Profile.Name,
            Seq = State.Seq,
            ActiveCall = active ? slot!.Call : null,
            Ringing = ringing ? [slot!.Call] : [],
            Devices = State.Devices,
        };
    }

    private async Task PublishAsync(GatewayDelivery delivery)
    {
        var provider = this.GetStreamProvider(StreamNames.Provider);
        List<string>? unreachable = null;
        foreach (var gatewayId in State.Devices.Where(d => delivery.IsFor(d.DeviceId)).Select(d => d.GatewayId).Distinct())
        {
            if (!GatewayIdentity.IsAlive(membership, gatewayId))
            {
                (unreachable ??= []).Add(gatewayId);
                continue;
            }

            try
            {
                await provider.GetStream<GatewayDelivery>(StreamId.Create(StreamNames.GatewayNamespace, gatewayId)).OnNextAsync(delivery);
            }
            catch (Exception ex) when (ex is SiloUnavailableException or OrleansMessageRejectionException or TimeoutException)
            {
                // The state change stands; a device that missed the event sees a gap in seq and asks for sync.
                logger.PublishFailed(ex, Uid, delivery.Event?.Type.ToString() ?? "close", gatewayId);
                (unreachable ??= []).Add(gatewayId);
            }
        }

        if (unreachable is not null)
        {
            await ForgetGatewaysAsync(unreachable);
        }
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
            || GatewayIdentity.Silo(gatewayId) is not { } silo || membership.CurrentSnapshot.GetSiloStatus(silo) != SiloStatus.Active)
        {
            // Placement takes a hint only to an active silo; a joining or leaving one is not worth moving to.
            return;
        }

        RequestContext.Set(IPlacementDirector.PlacementHintKey, silo);
        this.MigrateOnIdle();
        RequestContext.Remove(IPlacementDirector.PlacementHintKey);
    }

    /// <summary>Drops devices whose gateway silo cluster membership has declared dead.</summary>
    private void PruneDeadGateways()
    {
        var alive = State.Devices.RemoveAll(d => !GatewayIdentity.IsAlive(membership, d.GatewayId));
        if (alive.Length != State.Devices.Length)
        {
            state.State = State with { Devices = alive };
            ArmGraceIfGone();
        }
    }

    /// <summary>
    /// With no device left while in a call, the user gets <see cref="CallOptions.DisconnectGraceSeconds"/> to come
    /// back; then the call is told to let them go. The check repeats each grace period until the slot is free,
    /// because the notice is one-way (a user grain must not await a session grain: that would be a cycle).
    /// </summary>
    private void ArmGraceIfGone()
    {
        if (_graceTimer is not null || State.Slot is null || !State.Devices.IsEmpty)
        {
            return;
        }

        var grace = TimeSpan.FromSeconds(callOptions.Value.DisconnectGraceSeconds);
        _graceTimer = this.RegisterGrainTimer(
            () =>
            {
                if (!State.Devices.IsEmpty || FreshSlot() is not { } slot)
                {
                    _graceTimer?.Dispose();
                    _graceTimer = null;
                    return Task.CompletedTask;
                }

                logger.GraceExpired(Uid, slot.SessionId);
                return GrainFactory.GetGrain<ICallSessionGrain>(slot.SessionId).Abandon(Uid);
            },
            new GrainTimerCreationOptions(grace, grace) { KeepAlive = true });
    }

    private async Task ForgetGatewaysAsync(List<string> gatewayIds)
    {
        state.State = State with { Devices = State.Devices.RemoveAll(d => gatewayIds.Contains(d.GatewayId)) };
        await SaveAsync();
    }
}

public static class StorageNames
{
    public const string Default = "Default";

    /// <summary>Where Orleans keeps stream subscriptions.</summary>
    public const string PubSub = "PubSubStore";

    /// <summary>Every store a CallGrains silo has.</summary>
    public static readonly IReadOnlyList<string> All = [Default, PubSub];
}
