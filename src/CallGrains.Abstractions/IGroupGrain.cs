using System.Collections.Immutable;

namespace CallGrains.Abstractions;

/// <summary>A group as PROTOCOL section 3 describes it: guid (<see cref="GroupId"/>), name, member uids (sorted).</summary>
[GenerateSerializer, Immutable, Alias("cg.GroupInfo")]
public sealed record GroupInfo(
    [property: Id(0)] string GroupId,
    [property: Id(1)] string Name,
    [property: Id(2)] ImmutableArray<string> Members);

/// <summary>How a change to a group went; the REST status follows from it.</summary>
public enum GroupOutcome
{
    Done = 0,
    AlreadyExists = 1,
    NotFound = 2,
    Invalid = 3,
    UnknownMember = 4,
}

/// <summary>The group after a change, or why the change was refused (<see cref="Message"/> says it for people).</summary>
[GenerateSerializer, Immutable, Alias("cg.GroupResult")]
public sealed record GroupResult(
    [property: Id(0)] GroupOutcome Outcome,
    [property: Id(1)] GroupInfo? Group,
    [property: Id(2)] string? Message = null)
{
    public static GroupResult Refused(GroupOutcome outcome, string message) => new(outcome, null, message);
}

/// <summary>How a claim of a group's one live call went.</summary>
public enum GroupCallOutcome
{
    Claimed = 0,
    NotFound = 1,
    NotMember = 2,

    /// <summary>The group has a live call already (<see cref="GroupCallClaim.HeldBy"/>).</summary>
    Busy = 3,

    /// <summary>Calls start in the group too often (<c>Calls:GroupCallsPerMinute</c>): nothing taken.</summary>
    Limited = 4,
}

/// <summary>The answer to <see cref="IGroupGrain.ClaimCall"/>: the group's members when claimed, the live call when busy.</summary>
[GenerateSerializer, Immutable, Alias("cg.GroupCallClaim")]
public sealed record GroupCallClaim(
    [property: Id(0)] GroupCallOutcome Outcome,
    [property: Id(1)] ImmutableArray<string> Members,
    [property: Id(2)] string? HeldBy = null);

/// <summary>One group, keyed by guid: its name and members (at most <c>Calls:MaxGroupMembers</c>).</summary>
[Alias("cg.IGroupGrain")]
public interface IGroupGrain : IGrainWithStringKey
{
    /// <summary>Creates the group; every member must be an existing user.</summary>
    [Alias("Create")]
    Task<GroupResult> Create(string name, ImmutableArray<string> members);

    /// <summary>The group, or null if there is none.</summary>
    [Alias("Get")]
    Task<GroupInfo?> GetGroup();

    /// <summary>Adds and removes members in one step; a uid may not be in both lists.</summary>
    [Alias("ChangeMembers")]
    Task<GroupResult> ChangeMembers(ImmutableArray<string> add, ImmutableArray<string> remove);

    /// <summary>
    /// Makes <paramref name="sessionId"/> the group's one live call if <paramref name="callerUid"/> is a member and no
    /// other call holds it (or the one that did is <paramref name="replacing"/>, found settled). Only call sessions ask.
    /// </summary>
    [Alias("ClaimCall")]
    Task<GroupCallClaim> ClaimCall(string sessionId, string callerUid, string? replacing);

    /// <summary>
    /// The call <paramref name="sessionId"/> has settled: the group may have a new one. Idempotent. <paramref name="unused"/>:
    /// it never rang or offered anything (its caller was on another call), so it gives back its share of the start quota.
    /// </summary>
    [Alias("ReleaseCall")]
    Task ReleaseCall(string sessionId, bool unused);

    /// <summary>The group's live call, if any (it may have settled with its release lost).</summary>
    [Alias("GetLiveCall")]
    Task<string?> GetLiveCall();

    /// <summary>Deletes the group; false if there was none.</summary>
    [Alias("Delete")]
    Task<bool> Delete();
}
