using System.Collections.Immutable;
using CallGrains.Abstractions;
using CallGrains.Grains.Deadlines;
using CallGrains.Grains.Push;
using CallGrains.Grains.Webhooks;

namespace CallGrains.Grains.Calls;

[GenerateSerializer, Immutable, Alias("cg.CallSessionState")]
public sealed record CallSessionState : IIndexedState
{
    [Id(0)] public CallInfo? Call { get; init; }

    /// <summary>The callee of a 1:1 call.</summary>
    [Id(1)] public string? CalleeUid { get; init; }

    /// <summary>When a ringing call becomes unanswered.</summary>
    [Id(2)] public DateTimeOffset? RingDeadline { get; init; }

    /// <summary>The call has an entry in the durable wake-up index (<see cref="IRingDeadlines"/>).</summary>
    [Id(3)] public bool Watched { get; init; }

    /// <summary>The device each participant is in the call on (the one that initiated or accepted), for signals.</summary>
    [Id(4)] public ImmutableDictionary<string, string> Devices { get; init; } = ImmutableDictionary<string, string>.Empty;

    /// <summary>Transitions so far; each one's updates carry its number, so the parties apply each exactly once.</summary>
    [Id(5)] public long Version { get; init; }

    /// <summary>
    /// The updates of transitions stored with them and not known to be applied by their users, in order (at most
    /// <see cref="CallSessionGrain.MaxOutbox"/>). Stored in the same write as the transition, so a crash between storing
    /// and telling leaves them here for redelivery.
    /// </summary>
    [Id(6)] public ImmutableArray<OutboxItem> Outbox { get; init; } = [];

    /// <summary>When a group call with one participant left alone ends by itself (<see cref="CallOptions.IdleSessionEndSeconds"/>).</summary>
    [Id(7)] public DateTimeOffset? IdleDeadline { get; init; }

    /// <summary>
    /// Pushes the call owes its users and has not seen done (PROTOCOL section 10), stored with the transition that made
    /// them owed, like the outbox; at most <see cref="CallSessionGrain.MaxPushDues"/> plus three per member.
    /// </summary>
    [Id(8)] public ImmutableArray<PushDue> Pushes { get; init; } = [];

    /// <summary>
    /// Webhook events the call owes and no endpoint queue has yet (PROTOCOL section 11), stored with the transition
    /// that caused them; at most <see cref="CallSessionGrain.MaxWebhookDues"/>.
    /// </summary>
    [Id(9)] public ImmutableArray<WebhookDue> Webhooks { get; init; } = [];

    /// <summary>
    /// When the wake-up index is to wake the call, as of this transition (null: no entry), for a store that writes the
    /// entry with the state (<see cref="IDeadlineIndex.WrittenWithState"/>). Moved without a write once the
    /// transition's updates are delivered, so after that the index, not this, says when.
    /// </summary>
    [Id(10)] public DateTimeOffset? WakeAt { get; init; }

    public string IndexName => DeadlineIndexNames.Ringing;

    /// <summary>Pushes or webhook events are owed: the call stays (and stays woken) until they are handed on.</summary>
    public bool Owes => !Pushes.IsEmpty || !Webhooks.IsEmpty;

    /// <summary>When the call is next due: its ring deadline while it rings for someone, or its idle end.</summary>
    public DateTimeOffset? DueAt => Call is { } call && CallKindRules.Rings(call) && RingDeadline is { } ring
        ? IdleDeadline is { } idle && idle < ring ? idle : ring
        : IdleDeadline;
}

/// <summary>An update for one party's user grain, waiting in a session's outbox.</summary>
[GenerateSerializer, Immutable, Alias("cg.OutboxItem")]
public sealed record OutboxItem([property: Id(0)] string Uid, [property: Id(1)] SlotUpdate Update);
