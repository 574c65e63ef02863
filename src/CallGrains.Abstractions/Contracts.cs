using System.Collections.Immutable;

namespace CallGrains.Abstractions;

/// <summary>A user as other users see them.</summary>
[GenerateSerializer, Immutable, Alias("cg.UserRef")]
public sealed record UserRef([property: Id(0)] string Uid, [property: Id(1)] string Name);

/// <summary>Someone who joined the call; <see cref="LeftAt"/> is set when they left or the call ended.</summary>
[GenerateSerializer, Immutable, Alias("cg.Participant")]
public sealed record Participant(
    [property: Id(0)] string Uid,
    [property: Id(1)] DateTimeOffset JoinedAt,
    [property: Id(2)] DateTimeOffset? LeftAt);

/// <summary>How a member of a group call answered it (on the wire: the call's <c>members</c>).</summary>
public enum MemberStatus
{
    Ringing = 0,

    /// <summary>On another call when it started: not rung, not disturbed (a missed call for them).</summary>
    Busy = 1,
    Rejected = 2,

    /// <summary>Did not answer before the ring timeout, or the call stopped before they did.</summary>
    Unanswered = 3,

    /// <summary>Accepted or joined (when they were in the call: <see cref="CallInfo.Participants"/>).</summary>
    Joined = 4,
}

/// <summary>A member of a group call other than its initiator: rung, refused as busy, or joined.</summary>
[GenerateSerializer, Immutable, Alias("cg.CallMember")]
public sealed record CallMember(
    [property: Id(0)] string Uid,
    [property: Id(1)] string Name,
    [property: Id(2)] MemberStatus Status);

/// <summary>A call as PROTOCOL section 3 describes it.</summary>
/// <remarks>
/// For a 1:1 call the participants are empty while it rings; both parties join when it is accepted.
/// <see cref="Metadata"/> is the client's JSON object, kept as text so this type stays wire-independent.
/// </remarks>
[GenerateSerializer, Immutable, Alias("cg.CallInfo")]
public sealed record CallInfo
{
    [Id(0)] public required string SessionId { get; init; }
    [Id(1)] public required CallType CallType { get; init; }
    [Id(2)] public required ReceiverType ReceiverType { get; init; }
    [Id(3)] public required string ReceiverId { get; init; }
    [Id(4)] public required UserRef Initiator { get; init; }
    [Id(5)] public required CallStatus Status { get; init; }
    [Id(6)] public required DateTimeOffset InitiatedAt { get; init; }
    [Id(7)] public DateTimeOffset? JoinedAt { get; init; }
    [Id(8)] public DateTimeOffset? EndedAt { get; init; }
    [Id(9)] public ImmutableArray<Participant> Participants { get; init; } = [];
    [Id(10)] public string? Metadata { get; init; }
    [Id(11)] public int TimeoutSeconds { get; init; }

    /// <summary>
    /// Callees who turned the call down themselves (rejected, or answered busy): not on the wire, but it is what tells
    /// a declined call from a missed one in their history.
    /// </summary>
    [Id(12)] public ImmutableArray<string> Declined { get; init; } = [];

    /// <summary>
    /// A group call's members other than the initiator that it rang, found busy, or that joined it (at most the
    /// group's size); empty for a 1:1 call.
    /// </summary>
    [Id(13)] public ImmutableArray<CallMember> Members { get; init; } = [];

    public bool IsGroup => ReceiverType == ReceiverType.Group;

    /// <summary>Whether <paramref name="uid"/> is in the call now (joined and not left).</summary>
    public bool IsPresent(string uid) => Participants.Any(p => p.Uid == uid && p.LeftAt is null);

    public MemberStatus? MemberStatusOf(string uid) => Members.FirstOrDefault(m => m.Uid == uid)?.Status;

    /// <summary>Seconds from the first join to the end, once the call has ended.</summary>
    public double? Duration => JoinedAt is { } joined && EndedAt is { } ended ? Math.Max(0, (ended - joined).TotalSeconds) : null;
}

/// <summary>An error of PROTOCOL section 7 with a message for people.</summary>
[GenerateSerializer, Immutable, Alias("cg.CallError")]
public sealed record CallError([property: Id(0)] CallErrorCode Code, [property: Id(1)] string Message);

/// <summary>
/// The one result shape of every call operation: ok, or an error; the call where the request created or touched
/// one; and the acting user's seq after the action (PROTOCOL section 2).
/// </summary>
[GenerateSerializer, Immutable, Alias("cg.CallResult")]
public sealed record CallResult
{
    [Id(0)] public CallError? Error { get; init; }
    [Id(1)] public CallInfo? Call { get; init; }
    [Id(2)] public long Seq { get; init; }

    public bool Ok => Error is null;

    public static CallResult Success(CallInfo call, long seq) => new() { Call = call, Seq = seq };

    /// <summary>
    /// A failure; <paramref name="call"/> is attached except to a refusal for permission, which tells a user who is not a
    /// party nothing about the call (PROTOCOL section 6).
    /// </summary>
    public static CallResult Fail(CallErrorCode code, string message, CallInfo? call = null, long seq = 0) =>
        new() { Error = new CallError(code, message), Call = code == CallErrorCode.PermissionDenied ? null : call, Seq = seq };
}

/// <summary>What the caller asks for when starting a call.</summary>
[GenerateSerializer, Immutable, Alias("cg.InitiateRequest")]
public sealed record InitiateRequest
{
    [Id(0)] public required string CallerUid { get; init; }
    [Id(1)] public required string ReceiverId { get; init; }
    [Id(2)] public ReceiverType ReceiverType { get; init; }
    [Id(3)] public CallType CallType { get; init; }

    /// <summary>Ring timeout for this call, 5-180 s; null for the configured default.</summary>
    [Id(4)] public int? TimeoutSeconds { get; init; }

    /// <summary>The client's JSON object as text, at most <see cref="Limits.MaxMetadataBytes"/> bytes.</summary>
    [Id(5)] public string? Metadata { get; init; }

    /// <summary>The device that asked; it gets the response, the user's other devices get events.</summary>
    [Id(6)] public string? DeviceId { get; init; }
}

/// <summary>An event of PROTOCOL section 5 for one user, numbered with that user's seq.</summary>
[GenerateSerializer, Immutable, Alias("cg.CallEvent")]
public sealed record CallEvent
{
    [Id(0)] public required CallEventType Type { get; init; }
    [Id(1)] public long Seq { get; init; }
    [Id(2)] public CallInfo? Call { get; init; }
    [Id(3)] public CancelReason? Reason { get; init; }

    /// <summary>The user who joined or left (userJoined, userLeft).</summary>
    [Id(4)] public UserRef? User { get; init; }

    /// <summary>The sender of a signal.</summary>
    [Id(5)] public string? From { get; init; }

    /// <summary>The opaque JSON data of a signal.</summary>
    [Id(6)] public string? Data { get; init; }
}

/// <summary>
/// What a user grain publishes on a gateway's stream for one user: an event for that user's devices on that gateway
/// (all but <see cref="ExceptDeviceId"/>, the device whose action caused it; or only <see cref="OnlyDeviceId"/>),
/// or, with <see cref="CloseCode"/>, an order to close all of that user's sockets there.
/// </summary>
[GenerateSerializer, Immutable, Alias("cg.GatewayDelivery")]
public sealed record GatewayDelivery(
    [property: Id(0)] string Uid,
    [property: Id(1)] string? ExceptDeviceId,
    [property: Id(2)] CallEvent? Event)
{
    [Id(3)] public int? CloseCode { get; init; }

    [Id(4)] public string? OnlyDeviceId { get; init; }

    /// <summary>With <see cref="CloseCode"/>: only sockets logged in with an older token generation than this close.</summary>
    [Id(5)] public long? BelowGeneration { get; init; }

    /// <summary>
    /// Signals are not numbered (they go to one device and must not open a gap in the others' seq): they carry the
    /// user's current seq, and a gateway never drops them as already seen.
    /// </summary>
    public bool Numbered => Event is { Type: not CallEventType.Signal };

    /// <summary>Whether a device of the user gets this delivery.</summary>
    public bool IsFor(string deviceId) => deviceId != ExceptDeviceId && (OnlyDeviceId is null || OnlyDeviceId == deviceId);
}

/// <summary>A user's view for <c>welcome</c> and <c>sync</c>.</summary>
[GenerateSerializer, Immutable, Alias("cg.UserSnapshot")]
public sealed record UserSnapshot
{
    [Id(0)] public required string Uid { get; init; }
    [Id(1)] public required string Name { get; init; }
    [Id(2)] public long Seq { get; init; }

    /// <summary>The call the user is in: ongoing, or their own outgoing call while it rings.</summary>
    [Id(3)] public CallInfo? ActiveCall { get; init; }

    /// <summary>Calls ringing for this user.</summary>
    [Id(4)] public ImmutableArray<CallInfo> Ringing { get; init; } = [];

    [Id(5)] public ImmutableArray<DeviceInfo> Devices { get; init; } = [];
}

/// <summary>One connected device of a user and the gateway that holds its socket.</summary>
/// <remarks>
/// <see cref="Epoch"/> numbers the user's registrations: the socket that made this one unregisters with it, so the
/// late cleanup of an older socket of the same device never removes a newer registration.
/// </remarks>
[GenerateSerializer, Immutable, Alias("cg.DeviceInfo")]
public sealed record DeviceInfo(
    [property: Id(0)] string DeviceId,
    [property: Id(1)] string GatewayId,
    [property: Id(2)] DateTimeOffset ConnectedAt)
{
    [Id(3)] public long Epoch { get; init; }

    /// <summary>The token generation the socket logged in with; an older one than the user's is revoked.</summary>
    [Id(4)] public long TokenGeneration { get; init; }
}

/// <summary>A socket a gateway holds now, as the gateway reports it when a user grain checks its devices.</summary>
[GenerateSerializer, Immutable, Alias("cg.HeldDevice")]
public sealed record HeldDevice([property: Id(0)] string DeviceId, [property: Id(1)] long Epoch);

public static class Limits
{
    /// <summary>Opaque signal data relayed between participants.</summary>
    public const int MaxSignalBytes = 16 * 1024;

    public const int MinTimeoutSeconds = 5;
    public const int MaxTimeoutSeconds = 180;
    public const int MaxMetadataBytes = 4 * 1024;
}

public static class StreamNames
{
    /// <summary>The stream provider that carries events to gateways.</summary>
    public const string Provider = "Events";

    /// <summary>The namespace of the one-stream-per-gateway streams, keyed by gateway id.</summary>
    public const string GatewayNamespace = "gateway";
}
