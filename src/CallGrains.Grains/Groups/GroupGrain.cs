using System.Collections.Immutable;
using CallGrains.Abstractions;
using CallGrains.Grains.Storage;
using Microsoft.Extensions.Options;

namespace CallGrains.Grains.Groups;

[GenerateSerializer, Immutable, Alias("cg.GroupState")]
public sealed record GroupState
{
    [Id(0)] public string? Name { get; init; }

    /// <summary>Member uids, sorted ordinally, at most <see cref="CallOptions.MaxGroupMembers"/>.</summary>
    [Id(1)] public ImmutableArray<string> Members { get; init; } = [];

    /// <summary>The group's live call: one at a time (a new call meets it and can join it instead).</summary>
    [Id(2)] public string? LiveCall { get; init; }
}

/// <summary>
/// One group: a name and a bounded, sorted member list. Changed by operators (PROTOCOL section 8, admin); read once
/// per group call to know whom to ring, so no per-event traffic goes through it. It calls user grains only to check
/// that members exist, and users never call groups, so no cycle can form.
/// </summary>
public sealed class GroupGrain(
    [PersistentState("group", StorageNames.Default)] IPersistentState<GroupState> state,
    IOptions<CallOptions> options,
    TimeProvider time) : Grain, IGroupGrain
{
    // Calls started in this group (Calls:GroupCallsPerMinute): each rings up to Calls:MaxGroupRing people. In memory,
    // as a user's initiate quota is: this activation is the group's only one, and an idle one is full again anyway.
    private RateBucket? _starts;

    private string GroupId => this.GetPrimaryKeyString();

    private int MaxMembers => options.Value.MaxGroupMembers;

    public async Task<GroupResult> Create(string name, ImmutableArray<string> members)
    {
        if (state.State.Name is not null)
        {
            return GroupResult.Refused(GroupOutcome.AlreadyExists, $"group {GroupId} already exists");
        }

        if (!Identifiers.IsValidUid(GroupId) || !Identifiers.IsValidName(name))
        {
            return GroupResult.Refused(GroupOutcome.Invalid, "guid must be 1-100 characters of [A-Za-z0-9_-] and name 1-100 characters");
        }

        var sorted = Sorted(members);
        if (await RefuseMembersAsync(sorted) is { } refused)
        {
            return refused;
        }

        await state.WriteOrForgetAsync(new GroupState { Name = name, Members = sorted }, this);
        return Done();
    }

    public Task<GroupInfo?> GetGroup() =>
        Task.FromResult(state.State.Name is { } name ? new GroupInfo(GroupId, name, state.State.Members) : null);

    public async Task<GroupResult> ChangeMembers(ImmutableArray<string> add, ImmutableArray<string> remove)
    {
        if (state.State.Name is null)
        {
            this.DeactivateOnIdle();
            return GroupResult.Refused(GroupOutcome.NotFound, $"no group {GroupId}");
        }

        if (add.Intersect(remove, StringComparer.Ordinal).FirstOrDefault() is { } both)
        {
            return GroupResult.Refused(GroupOutcome.Invalid, $"{both} is both added and removed");
        }

        var added = Sorted(add).Except(state.State.Members, StringComparer.Ordinal).ToImmutableArray();
        var members = Sorted([.. state.State.Members.Except(remove, StringComparer.Ordinal), .. added]);
        if (await RefuseMembersAsync(members, added) is { } refused)
        {
            return refused;
        }

        if (!members.SequenceEqual(state.State.Members))
        {
            await state.WriteOrForgetAsync(state.State with { Members = members }, this);
        }

        return Done();
    }

    public async Task<GroupCallClaim> ClaimCall(string sessionId, string callerUid, string? replacing)
    {
        if (state.State.Name is null)
        {
            this.DeactivateOnIdle();
            return new GroupCallClaim(GroupCallOutcome.NotFound, []);
        }

        if (!state.State.Members.Contains(callerUid))
        {
            return new GroupCallClaim(GroupCallOutcome.NotMember, []);
        }

        if (state.State.LiveCall is { } live && live != sessionId && live != replacing)
        {
            return new GroupCallClaim(GroupCallOutcome.Busy, [], live);
        }

        if (state.State.LiveCall != sessionId)
        {
            var now = time.GetUtcNow();
            if ((_starts ?? RateBucket.Full(options.Value.GroupCallBurst, options.Value.GroupCallsPerMinute, now)).Take(now) is not { } taken)
            {
                return new GroupCallClaim(GroupCallOutcome.Limited, []);
            }

            _starts = taken;
            await state.WriteOrForgetAsync(state.State with { LiveCall = sessionId }, this);
        }

        return new GroupCallClaim(GroupCallOutcome.Claimed, state.State.Members);
    }

    public async Task ReleaseCall(string sessionId, bool unused)
    {
        if (state.State.LiveCall == sessionId)
        {
            if (unused)
            {
                // The start rang no one and offered nothing (its caller was on another call): not one of the group's starts.
                _starts = _starts?.GiveBack();
            }

            await state.WriteOrForgetAsync(state.State with { LiveCall = null }, this);
        }
    }

    public Task<string?> GetLiveCall() => Task.FromResult(state.State.LiveCall);

    public async Task<bool> Delete()
    {
        if (state.State.Name is null)
        {
            this.DeactivateOnIdle();
            return false;
        }

        await state.ClearStateAsync();
        state.State = new GroupState();
        this.DeactivateOnIdle();
        return true;
    }

    private GroupResult Done() => new(GroupOutcome.Done, new GroupInfo(GroupId, state.State.Name!, state.State.Members));

    private static ImmutableArray<string> Sorted(IEnumerable<string> uids) =>
        [.. uids.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal)];

    /// <summary>Why <paramref name="members"/> cannot be the group's members; <paramref name="fresh"/> are checked to exist.</summary>
    private async Task<GroupResult?> RefuseMembersAsync(ImmutableArray<string> members, ImmutableArray<string>? fresh = null)
    {
        if (members.Length > MaxMembers)
        {
            return GroupResult.Refused(GroupOutcome.Invalid, $"a group has at most {MaxMembers} members; this would have {members.Length}");
        }

        var check = fresh ?? members;
        if (check.FirstOrDefault(uid => !Identifiers.IsValidUid(uid)) is { } bad)
        {
            return GroupResult.Refused(GroupOutcome.Invalid, $"member '{bad}' is not a uid (1-100 characters of [A-Za-z0-9_-])");
        }

        var profiles = await Task.WhenAll(check.Select(uid => GrainFactory.Ref<IUserGrain>(uid).GetProfile()));
        var missing = check.Where((_, i) => profiles[i] is null).ToList();
        return missing.Count == 0
            ? null
            : GroupResult.Refused(GroupOutcome.UnknownMember, $"no user {string.Join(", ", missing.Take(10))}{(missing.Count > 10 ? $" and {missing.Count - 10} more" : "")}");
    }
}
