using System.Collections.Immutable;
using CallGrains.Abstractions;

namespace CallGrains.Grains.Users;

[GenerateSerializer, Immutable, Alias("cg.UserState")]
public sealed record UserState
{
    [Id(0)] public UserRef? Profile { get; init; }
    [Id(1)] public long Seq { get; init; }
    [Id(2)] public CallSlot? Slot { get; init; }
    [Id(3)] public ImmutableArray<DeviceInfo> Devices { get; init; } = [];

    /// <summary>Tokens carry the generation they were issued in; revoking moves it on.</summary>
    [Id(4)] public long TokenGeneration { get; init; }

    /// <summary>The last registration epoch given out.</summary>
    [Id(5)] public long Epochs { get; init; }

    /// <summary>When the disconnect grace of a user with no device left in a call ends; null when not in grace.</summary>
    [Id(6)] public DateTimeOffset? GraceEndsAt { get; init; }

    /// <summary>The last transitions applied of calls that released this user, newest last (at most <see cref="SlotRules.MaxSettled"/>).</summary>
    [Id(7)] public ImmutableArray<AppliedUpdate> Settled { get; init; } = [];

    /// <summary>The last numbered event published, so that a redelivered update publishes it again with its seq.</summary>
    [Id(8)] public SentEvent? LastEvent { get; init; }

    /// <summary>
    /// Unanswered 1:1 calls to this user per caller in the last day (at most <see cref="SlotRules.MaxTallies"/> callers),
    /// for <see cref="CallOptions.MaxUnansweredFromCallerPerDay"/>.
    /// </summary>
    [Id(9)] public ImmutableArray<CallerTally> Unanswered { get; init; } = [];

    /// <summary>The push tokens of the user's devices, oldest registration first (at most <see cref="PushTokenOptions.MaxTokensPerUser"/>).</summary>
    [Id(10)] public ImmutableArray<PushToken> PushTokens { get; init; } = [];

    /// <summary>
    /// The devices the last rings were pushed to, newest last (at most <see cref="RingPush.MaxKept"/>, none older than
    /// <see cref="RingPush.KeptFor"/>): where each one's cancel goes, also when it is pushed again after a crash.
    /// </summary>
    [Id(12)] public ImmutableArray<RingPush> RingsPushed { get; init; } = [];
}

/// <summary>A call's ring was pushed to these devices of the user, at <see cref="At"/>.</summary>
[GenerateSerializer, Immutable, Alias("cg.RingPush")]
public sealed record RingPush([property: Id(0)] string SessionId, [property: Id(1)] ImmutableArray<string> DeviceIds, [property: Id(2)] DateTimeOffset At)
{
    /// <summary>Rings remembered at most: a user is rung by one call at a time, so a few cover calls that follow each other.</summary>
    public const int MaxKept = 4;

    /// <summary>How long a ring's devices are kept: its longest ring (180 s) and its cancel's life, with room.</summary>
    public static readonly TimeSpan KeptFor = TimeSpan.FromMinutes(10);
}

/// <summary>Calls from <see cref="CallerUid"/> this user has not answered since <see cref="Since"/> (a day at most).</summary>
[GenerateSerializer, Immutable, Alias("cg.CallerTally")]
public sealed record CallerTally([property: Id(0)] string CallerUid, [property: Id(1)] DateTimeOffset Since, [property: Id(2)] int Count);

/// <summary>The one call a user is in, as the session that holds it last told the user.</summary>
[GenerateSerializer, Immutable, Alias("cg.CallSlot")]
public sealed record CallSlot
{
    [Id(0)] public required CallInfo Call { get; init; }
    [Id(1)] public required CallRole Role { get; init; }
    [Id(2)] public required string PeerId { get; init; }
    [Id(3)] public required SlotPhase Phase { get; init; }
    [Id(4)] public DateTimeOffset? ExpiresAt { get; init; }

    /// <summary>The session's transition this slot reflects (<see cref="SlotUpdate.Version"/>).</summary>
    [Id(5)] public long Version { get; init; }

    public string SessionId => Call.SessionId;
}

[GenerateSerializer, Immutable, Alias("cg.AppliedUpdate")]
public sealed record AppliedUpdate([property: Id(0)] string SessionId, [property: Id(1)] long Version);

[GenerateSerializer, Immutable, Alias("cg.SentEvent")]
public sealed record SentEvent([property: Id(0)] AppliedUpdate Update, [property: Id(1)] GatewayDelivery Delivery);
