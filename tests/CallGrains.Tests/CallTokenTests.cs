using CallGrains.Abstractions;

namespace CallGrains.Tests;

/// <summary>
/// Who may have a media token for a call (PROTOCOL section 4, <c>generateToken</c>): only someone in the live call now,
/// or a user it rings now; and a refusal for permission never attaches the call (section 6).
/// </summary>
[Collection(ClusterGroup.Name)]
public sealed class CallTokenTests(ClusterFixture fixture)
{
    private readonly CallTestKit _kit = new(fixture.Cluster);

    [Fact]
    public async Task In_a_group_call_only_those_in_it_or_rung_now_get_a_token()
    {
        // m0 calls; m1 joins; m2 rejects; m3 joins then leaves; m4 rings, then is removed; m5 is busy; m6 rings; x is no member.
        var m = await _kit.CreateUsersAsync(8, "t");
        var x = m[7];
        var guid = "grp-" + Guid.NewGuid().ToString("N")[..10];
        var group = _kit.Client.GetGrain<IGroupGrain>(guid);
        Assert.Equal(GroupOutcome.Done, (await group.Create("Team", [.. m[..7]])).Outcome);
        await _kit.ConnectAsync(m[5], x);
        var started = await _kit.GroupCallAsync(guid, m[0]);
        Assert.True(started.Ok, started.Error?.Message);
        var session = _kit.Session(started.Call!.SessionId);
        Assert.Equal(MemberStatus.Busy, started.Call.MemberStatusOf(m[5]));

        Assert.True((await session.AcceptCall(m[1], null)).Ok);
        Assert.True((await session.RejectCall(m[2], CallStatus.Rejected, null)).Ok);
        Assert.True((await session.AcceptCall(m[3], null)).Ok);
        Assert.True((await session.LeaveCall(m[3], null)).Ok);

        foreach (var uid in new[] { m[0], m[1], m[4], m[6] })
        {
            var allowed = await session.AuthorizeMedia(uid);
            Assert.True(allowed.Ok, $"{uid}: {allowed.Error?.Message}");
        }

        Assert.Equal(GroupOutcome.Done, (await group.ChangeMembers([], [m[4]])).Outcome);
        await session.StopRingingFor([m[4]]);
        foreach (var uid in new[] { m[2], m[3], m[4], m[5], x })
        {
            AssertDeniedWithoutCall(await session.AuthorizeMedia(uid), uid);
        }

        // The initiator who left is out too; a member in it still gets one.
        Assert.True((await session.LeaveCall(m[0], null)).Ok);
        AssertDeniedWithoutCall(await session.AuthorizeMedia(m[0]), m[0]);
        Assert.True((await session.AuthorizeMedia(m[1])).Ok);
    }

    [Fact]
    public async Task A_one_to_one_call_gives_tokens_to_its_two_parties_while_live_and_to_no_one_else()
    {
        var (a, b) = await _kit.CreatePairAsync();
        var stranger = (await _kit.CreateUsersAsync(1, "s"))[0];
        var call = await _kit.RingAsync(a, b);
        var session = _kit.Session(call.SessionId);

        Assert.True((await session.AuthorizeMedia(a)).Ok);
        Assert.True((await session.AuthorizeMedia(b)).Ok);
        AssertDeniedWithoutCall(await session.AuthorizeMedia(stranger), stranger);

        Assert.True((await session.AcceptCall(b, null)).Ok);
        Assert.True((await session.AuthorizeMedia(b)).Ok);
        await _kit.EndAsync(call.SessionId, a);

        // Settled: its parties are told it ended; a stranger only that they may not.
        var late = await session.AuthorizeMedia(b);
        Assert.Equal(CallErrorCode.CallEnded, late.Error?.Code);
        AssertDeniedWithoutCall(await session.AuthorizeMedia(stranger), stranger);
    }

    [Fact]
    public async Task Strangers_learn_nothing_about_a_call_live_or_settled()
    {
        var m = await _kit.CreateUsersAsync(4, "j");
        var stranger = m[3];
        var guid = "grp-" + Guid.NewGuid().ToString("N")[..10];
        Assert.Equal(GroupOutcome.Done, (await _kit.Client.GetGrain<IGroupGrain>(guid).Create("Team", [.. m[..3]])).Outcome);
        var group = (await _kit.GroupCallAsync(guid, m[0])).Call!;
        var (a, b) = await _kit.CreatePairAsync();
        var single = await _kit.RingAsync(a, b);

        foreach (var sessionId in new[] { group.SessionId, single.SessionId })
        {
            var s = _kit.Session(sessionId);
            foreach (var refused in new[]
            {
                await s.JoinCall(stranger, null), await s.LeaveCall(stranger, null), await s.GetCall(stranger),
                await s.AcceptCall(stranger, null), await s.RejectCall(stranger, CallStatus.Rejected, null),
                await s.EndCall(stranger, null), await s.Signal(stranger, m[0], "{}"), await s.AuthorizeMedia(stranger),
            })
            {
                AssertDeniedWithoutCall(refused, stranger);
            }
        }

        // Settled: the same answer, so a stranger cannot tell a settled call from a live one.
        Assert.True((await _kit.Session(group.SessionId).EndCall(m[0], null)).Ok);
        Assert.True((await _kit.Session(single.SessionId).EndCall(a, null)).Ok);
        foreach (var sessionId in new[] { group.SessionId, single.SessionId })
        {
            AssertDeniedWithoutCall(await _kit.Session(sessionId).JoinCall(stranger, null), stranger);
            AssertDeniedWithoutCall(await _kit.Session(sessionId).GetCall(stranger), stranger);
        }

        // A party of the settled call is still told what became of it.
        var party = await _kit.Session(group.SessionId).JoinCall(m[1], null);
        Assert.Equal(CallErrorCode.CallCancelled, party.Error?.Code);
        Assert.Equal(group.SessionId, party.Call?.SessionId);
    }

    private static void AssertDeniedWithoutCall(CallResult result, string uid)
    {
        Assert.Equal(CallErrorCode.PermissionDenied, result.Error?.Code);
        Assert.True(result.Call is null, $"{uid} was refused but shown the call");
    }
}
