using System.Collections.Immutable;
using Orleans.Concurrency;

namespace CallGrains.Abstractions;

/// <summary>
/// One user: profile, the one active-call slot, devices and event numbering. Keyed by uid.
/// Only call-session grains change the slot; a user grain never calls a session grain (calls go one way).
/// </summary>
[Alias("cg.IUserGrain")]
public interface IUserGrain : IGrainWithStringKey
{
    /// <summary>Creates the profile; false if the user already exists.</summary>
    [Alias("Create")]
    Task<bool> Create(string name);

    [Alias("GetProfile")]
    Task<UserRef?> GetProfile();

    /// <summary>The snapshot for <c>sync</c> and <c>welcome</c>; null if the user does not exist.</summary>
    [Alias("GetSnapshot")]
    Task<UserSnapshot?> GetSnapshot();

    /// <summary>
    /// Records a connected device; returns the snapshot, or an error when the user does not exist, the token's
    /// generation was revoked, or the device cap is reached.
    /// </summary>
    [Alias("RegisterDevice")]
    Task<DeviceRegistration> RegisterDevice(string deviceId, string gatewayId, long tokenGeneration);

    /// <summary>
    /// Puts back a device whose socket its gateway still holds, with the epoch it was registered with, after the
    /// cluster dropped it for a gateway it thought gone (an edge whose lease lapsed during a network pause). Nothing
    /// changes if the device is registered (on any gateway, with any epoch), the token was revoked or the cap is
    /// reached; returns whether the device is registered with this gateway and epoch afterwards.
    /// </summary>
    [Alias("RestoreDevice")]
    Task<bool> RestoreDevice(string deviceId, string gatewayId, long epoch, long tokenGeneration);

    /// <summary>The generation new auth tokens carry; null if the user does not exist.</summary>
    [Alias("GetTokenGeneration")]
    Task<long?> GetTokenGeneration();

    /// <summary>Invalidates every token issued so far and closes the user's sockets; false if no such user.</summary>
    [Alias("RevokeTokens")]
    Task<bool> RevokeTokens();

    /// <summary>Forgets the device registered with <paramref name="epoch"/>; a newer registration of it stays.</summary>
    [Alias("UnregisterDevice")]
    Task UnregisterDevice(string deviceId, string gatewayId, long epoch);

    /// <summary>
    /// The gateway <paramref name="gatewayId"/> has died (cluster membership declared its silo dead): its sockets are
    /// gone, so are the user's devices there. Sent by every silo's presence sweep; idempotent.
    /// </summary>
    [OneWay, Alias("GatewayLost")]
    Task GatewayLost(string gatewayId);

    /// <summary>
    /// The durable grace index says this user's disconnect grace is over: if the user still has no device and holds a
    /// call, the call is told to let them go. Idempotent.
    /// </summary>
    [OneWay, Alias("CheckGrace")]
    Task CheckGrace();

    /// <summary>
    /// Stores the device's token for the platform (replacing the one it had; past <c>Push:MaxTokensPerUser</c> the least
    /// recently registered goes) after claiming it in its <see cref="IPushTokenGrain"/>; the registration says which
    /// other user it was taken from. A token this user already held on another device leaves that device here.
    /// </summary>
    [Alias("SetPushToken")]
    Task<PushTokenRegistration> SetPushToken(string deviceId, PushPlatform platform, string token);

    /// <summary>The user's push tokens, newest first; null if the user does not exist.</summary>
    [Alias("GetPushTokens")]
    Task<ImmutableArray<PushToken>?> GetPushTokens();

    /// <summary>Removes every token of the device and releases their index entries; false if the user does not exist.</summary>
    [Alias("RemoveDevicePushTokens")]
    Task<bool> RemoveDevicePushTokens(string deviceId);

    /// <summary>
    /// Removes the device's token for the platform only if it is still <paramref name="token"/> (a provider's late
    /// "gone" answer leaves a fresh token alone) and releases its index entry; true if it was removed.
    /// </summary>
    [Alias("RemovePushToken")]
    Task<bool> RemovePushToken(string deviceId, PushPlatform platform, string token);

    /// <summary>
    /// Another user registered the token this device held through <paramref name="claim"/>: the entry goes (only that
    /// claim's: a registration made since stays). The index already names the new holder.
    /// </summary>
    [Alias("PushTokenMoved")]
    Task PushTokenMoved(string deviceId, PushPlatform platform, Guid claim);
}

/// <summary>
/// The user's one active-call slot, as call-session grains change it: the same grain as <see cref="IUserGrain"/> (one
/// class implements both), seen through the methods only sessions may call. Gateways and operators use
/// <see cref="IUserGrain"/>.
/// </summary>
[Alias("cg.IUserSlotGrain")]
public interface IUserSlotGrain : IGrainWithStringKey
{
    /// <summary>Takes the slot for a call, or says why not.</summary>
    [Alias("Reserve")]
    Task<Reservation> Reserve(SlotRequest request);

    /// <summary>The answer <see cref="Reserve"/> would give, without taking the slot.</summary>
    [Alias("Probe")]
    Task<Reservation> Probe(SlotRequest request);

    /// <summary>Delivers an unnumbered event (a signal) to one device or all; returns the user's seq.</summary>
    [Alias("Notify")]
    Task<long> Notify(CallEvent evt, string? onlyDeviceId);

    /// <summary>Moves the slot held by this call to a new phase and delivers an optional event.</summary>
    [Alias("Update")]
    Task<long> Update(SlotUpdate update);

    /// <summary>
    /// Where the ring of <paramref name="sessionId"/> is pushed now: the tokens of the user's devices that hold no open
    /// socket (a device with an <c>apns-voip</c> token rings through it alone), and only while this user's slot still
    /// rings for that call, so a ring push is never sent after its ring ended. Remembers the devices for the cancel.
    /// Empty for an unknown user. With <paramref name="deviceId"/>, that device's tokens only (a ring pushed late, when
    /// its socket went while the call rang).
    /// </summary>
    [Alias("RingPushTargets")]
    Task<ImmutableArray<PushToken>> RingPushTargets(string sessionId, string? deviceId);

    /// <summary>Whether this user's slot still rings for <paramref name="sessionId"/>: asked before a ring push is tried again.</summary>
    [Alias("StillRinging")]
    Task<bool> StillRinging(string sessionId);

    /// <summary>
    /// Where the cancel of <paramref name="sessionId"/>'s ring is pushed: the devices its ring was pushed to (all but
    /// <paramref name="exceptDeviceId"/>, the one that answered or declined), the same however often it is asked; none
    /// when its ring was not pushed.
    /// </summary>
    [Alias("CancelPushTargets")]
    Task<ImmutableArray<PushToken>> CancelPushTargets(string sessionId, string? exceptDeviceId);

    /// <summary>Where a missed-call alert is pushed: every <c>apns</c> and <c>fcm</c> token (a PushKit token takes only calls).</summary>
    [Alias("MissedPushTargets")]
    Task<ImmutableArray<PushToken>> MissedPushTargets();
}

[GenerateSerializer, Immutable, Alias("cg.DeviceRegistration")]
public sealed record DeviceRegistration([property: Id(0)] UserSnapshot? Snapshot, [property: Id(1)] CallError? Error)
{
    /// <summary>The registration's epoch, for <see cref="IUserGrain.UnregisterDevice"/>.</summary>
    [Id(2)] public long Epoch { get; init; }
}

/// <summary>The user's part in a call.</summary>
public enum CallRole
{
    Caller = 0,
    Callee = 1,
}

/// <summary>Where the user's slot stands for the call that holds it.</summary>
public enum SlotPhase
{
    /// <summary>Taken while the call is being set up; not yet shown as ringing.</summary>
    Pending = 0,
    Ringing = 1,
    Ongoing = 2,

    /// <summary>Released: the user is free of this call.</summary>
    Free = 3,
}

[GenerateSerializer, Immutable, Alias("cg.SlotRequest")]
public sealed record SlotRequest
{
    [Id(0)] public required CallInfo Call { get; init; }
    [Id(1)] public required CallRole Role { get; init; }

    /// <summary>The other party: the callee's uid for the caller, the caller's uid for the callee.</summary>
    [Id(2)] public required string PeerId { get; init; }

    /// <summary>After this instant a slot that never got past ringing is stale and treated as free.</summary>
    [Id(3)] public required DateTimeOffset ExpiresAt { get; init; }

    /// <summary>
    /// The caller's first reservation or probe of a new call: it takes one from the caller's initiate quota
    /// (<c>Calls:InitiatesPerMinute</c>), and is answered <see cref="ReservationOutcome.Limited"/> past it.
    /// </summary>
    [Id(4)] public bool Initiates { get; init; }

    /// <summary>
    /// A new call offered to this user (to ring, or to be refused as busy), not a join: it counts toward the callee's
    /// bound on unanswered calls from <see cref="PeerId"/> (<c>Calls:MaxUnansweredFromCallerPerDay</c>).
    /// </summary>
    [Id(5)] public bool Offered { get; init; }
}

public enum ReservationOutcome
{
    Reserved = 0,

    /// <summary>The slot holds another call.</summary>
    Taken = 1,

    /// <summary>The slot holds a ringing call between the same two users in the other direction.</summary>
    Glare = 2,

    UserNotFound = 3,

    /// <summary>
    /// Refused by a quota, nothing taken: the caller's initiates (<c>Calls:InitiatesPerMinute</c>), or the callee's bound on
    /// unanswered calls from this caller (<c>Calls:MaxUnansweredFromCallerPerDay</c>).
    /// </summary>
    Limited = 4,
}

[GenerateSerializer, Immutable, Alias("cg.Reservation")]
public sealed record Reservation
{
    [Id(0)] public required ReservationOutcome Outcome { get; init; }
    [Id(1)] public long Seq { get; init; }

    /// <summary>The call that holds the slot, for <see cref="ReservationOutcome.Taken"/> and <see cref="ReservationOutcome.Glare"/>.</summary>
    [Id(2)] public string? HeldBy { get; init; }
    [Id(3)] public CallRole HeldRole { get; init; }
    [Id(4)] public SlotPhase HeldPhase { get; init; }
    [Id(5)] public UserRef? Profile { get; init; }
}

/// <summary>A change of the slot held by <see cref="Call"/>, with the event it causes for this user, if any.</summary>
[GenerateSerializer, Immutable, Alias("cg.SlotUpdate")]
public sealed record SlotUpdate
{
    [Id(0)] public required CallInfo Call { get; init; }
    [Id(1)] public required SlotPhase Phase { get; init; }
    [Id(2)] public CallEvent? Event { get; init; }

    /// <summary>The device that acted: it gets the response, not the event.</summary>
    [Id(3)] public string? ExceptDeviceId { get; init; }

    /// <summary>
    /// The session's transition number this update belongs to (0: unversioned, for releases of a call never stored).
    /// A session redelivers updates until they are applied; a user applies each version once, so a redelivered event
    /// keeps its seq and is never numbered twice.
    /// </summary>
    [Id(4)] public long Version { get; init; }
}
