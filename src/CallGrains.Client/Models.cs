using System.Text.Json;

namespace CallGrains.Client;

/// <summary>Whether a call carries audio only or video too.</summary>
public enum CallType
{
    /// <summary>A voice call.</summary>
    Audio,

    /// <summary>A video call (with audio).</summary>
    Video,
}

/// <summary>Who a call is addressed to.</summary>
public enum ReceiverType
{
    /// <summary>One user (a 1:1 call).</summary>
    User,

    /// <summary>The members of a group.</summary>
    Group,
}

/// <summary>The state of a call, as the server names it.</summary>
public enum CallStatus
{
    /// <summary>Ringing: nobody has answered yet.</summary>
    Initiated,

    /// <summary>Answered: the parties are in the call.</summary>
    Ongoing,

    /// <summary>Nobody answered before the ring timeout.</summary>
    Unanswered,

    /// <summary>The callee declined.</summary>
    Rejected,

    /// <summary>The callee was (or said they were) on another call.</summary>
    Busy,

    /// <summary>The caller gave up before anyone answered.</summary>
    Cancelled,

    /// <summary>The call was answered and has ended.</summary>
    Ended,
}

/// <summary>How a member of a group call answered the ringing.</summary>
public enum MemberStatus
{
    /// <summary>Still ringing for them.</summary>
    Ringing,

    /// <summary>On another call when the group call started: not rung.</summary>
    Busy,

    /// <summary>Declined.</summary>
    Rejected,

    /// <summary>Did not answer before the ring timeout, or the call stopped first.</summary>
    Unanswered,

    /// <summary>Joined the call (they may have left since: see <see cref="CallInfo.Participants"/>).</summary>
    Joined,
}

/// <summary>Why a call stopped ringing on this device (<see cref="CallGrainsClient.IncomingCallCanceled"/>).</summary>
public enum CancelReason
{
    /// <summary>The caller cancelled (or, for a group, the call ended before this user answered).</summary>
    Cancelled,

    /// <summary>Nobody answered before the ring timeout.</summary>
    Unanswered,

    /// <summary>Another device of this user answered.</summary>
    AnsweredElsewhere,

    /// <summary>Another device of this user declined.</summary>
    RejectedElsewhere,

    /// <summary>The call stopped ringing while this client was away and the server could not say why.</summary>
    Unknown,
}

/// <summary>A user as calls name them.</summary>
/// <param name="Uid">The user's id.</param>
/// <param name="Name">The user's display name.</param>
public sealed record CallUser(string Uid, string Name);

/// <summary>Someone who is or was in a call.</summary>
/// <param name="Uid">The participant's user id.</param>
/// <param name="JoinedAt">When they joined.</param>
/// <param name="LeftAt">When they left, or null while they are in the call.</param>
public sealed record CallParticipant(string Uid, DateTimeOffset JoinedAt, DateTimeOffset? LeftAt)
{
    /// <summary>True while the participant is in the call.</summary>
    public bool IsPresent => LeftAt is null;
}

/// <summary>A member of a group call other than its initiator, and how they answered.</summary>
/// <param name="Uid">The member's user id.</param>
/// <param name="Name">The member's display name.</param>
/// <param name="Status">How they answered.</param>
public sealed record CallMember(string Uid, string Name, MemberStatus Status);

/// <summary>
/// What to call: the request of <see cref="CallGrainsClient.InitiateCallAsync"/>, as CometChat's
/// <c>Call(receiverId, callType, receiverType)</c>.
/// </summary>
/// <param name="ReceiverId">The uid of the user (or guid of the group) to call.</param>
/// <param name="CallType">Audio or video.</param>
/// <param name="ReceiverType">A user or a group.</param>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Naming", "CA1716", Justification = "The name of CometChat's Call(receiverId, callType, receiverType), which this SDK mirrors.")]
public sealed record Call(string ReceiverId, CallType CallType, ReceiverType ReceiverType = ReceiverType.User)
{
    /// <summary>How long the call rings before it is unanswered, 5-180 seconds; null for the server's default (45).</summary>
    public int? TimeoutSeconds { get; init; }

    /// <summary>A JSON object (at most 4 KiB) handed to the callee with the call; null for none.</summary>
    public JsonElement? Metadata { get; init; }
}

/// <summary>A call session as the server reports it (PROTOCOL section 3).</summary>
public sealed class CallInfo
{
    /// <summary>The call's id: pass it to accept, reject, end, join, leave, signal and token requests.</summary>
    public required string SessionId { get; init; }

    /// <summary>Audio or video.</summary>
    public CallType CallType { get; init; }

    /// <summary>Whether the call was made to a user or a group.</summary>
    public ReceiverType ReceiverType { get; init; }

    /// <summary>The uid (or group guid) that was called.</summary>
    public required string ReceiverId { get; init; }

    /// <summary>Who called.</summary>
    public required CallUser Initiator { get; init; }

    /// <summary>The call's state.</summary>
    public CallStatus Status { get; init; }

    /// <summary>When the call was made.</summary>
    public DateTimeOffset InitiatedAt { get; init; }

    /// <summary>When it was first answered, or null.</summary>
    public DateTimeOffset? JoinedAt { get; init; }

    /// <summary>When it settled, or null while it is live.</summary>
    public DateTimeOffset? EndedAt { get; init; }

    /// <summary>From the first join to the end, or null.</summary>
    public TimeSpan? Duration { get; init; }

    /// <summary>Who is or was in the call (empty while a 1:1 call rings).</summary>
    public IReadOnlyList<CallParticipant> Participants { get; init; } = [];

    /// <summary>For a group call, the members other than the initiator that it rang, found busy, or was joined by; empty for a 1:1 call.</summary>
    public IReadOnlyList<CallMember> Members { get; init; } = [];

    /// <summary>The caller's metadata object (<c>{}</c> when none was sent).</summary>
    public JsonElement Metadata { get; init; }

    /// <summary>The ring timeout in force for this call, when the server says (a CallGrains extension).</summary>
    public int? TimeoutSeconds { get; init; }

    /// <summary>True for a call to a group.</summary>
    public bool IsGroup => ReceiverType == ReceiverType.Group;

    /// <summary>True once the call can change no more: unanswered, rejected, busy, cancelled or ended.</summary>
    public bool IsSettled => Status is not (CallStatus.Initiated or CallStatus.Ongoing);

    /// <summary>The participants who are in the call now.</summary>
    public IEnumerable<CallParticipant> PresentParticipants => Participants.Where(p => p.IsPresent);

    /// <inheritdoc/>
    public override string ToString() => $"{SessionId} {CallType} {Status} {Initiator.Uid} -> {ReceiverId}";
}
