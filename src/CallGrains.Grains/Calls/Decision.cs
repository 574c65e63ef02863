using System.Collections.Immutable;
using CallGrains.Abstractions;

namespace CallGrains.Grains.Calls;

/// <summary>What a transition owes one party: their slot's new phase and the event they get, if any.</summary>
public sealed record PartyUpdate(string Uid, SlotPhase Phase, CallEvent? Event, string? ExceptDeviceId = null);

/// <summary>A call as the rules see it: the call, its callee (1:1) and when it stops ringing.</summary>
public sealed record CallView(CallInfo Call, string Callee, DateTimeOffset? RingDeadline)
{
    public string SessionId => Call.SessionId;

    /// <summary>The caller or the callee; for a group call, the initiator or a member it rang, found busy or was joined by.</summary>
    public bool IsParty(string uid) => uid == Call.Initiator.Uid || (Call.IsGroup ? Call.Members.Any(m => m.Uid == uid) : uid == Callee);

    public string Peer(string uid) => uid == Call.Initiator.Uid ? Callee : Call.Initiator.Uid;

    public bool RingsPast(DateTimeOffset now) => CallKindRules.Rings(Call) && RingDeadline is { } deadline && now >= deadline;
}

/// <summary>
/// What a command does to a call: the call after it and the updates owed to the parties (a transition), the answer
/// for the asker when it is refused, or both (a request after the ring deadline times the call out first, then is
/// refused). Neither: the command is allowed and changes nothing.
/// </summary>
public sealed record Decision
{
    public static readonly Decision Allowed = new();

    /// <summary>The call after the command; null when it changes nothing.</summary>
    public CallInfo? Next { get; init; }

    public ImmutableArray<PartyUpdate> Updates { get; init; } = [];

    /// <summary>The asker's answer when the command is refused.</summary>
    public CallResult? Refusal { get; init; }

    /// <summary>For the log: accepted, rejected, busy, cancelled, ended, unanswered.</summary>
    public string? Outcome { get; init; }

    public static Decision Refuse(CallResult refusal) => new() { Refusal = refusal };
}
