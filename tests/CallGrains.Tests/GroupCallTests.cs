using CallGrains.Abstractions;

namespace CallGrains.Tests;

/// <summary>
/// Group calls on a two-silo cluster (PROTOCOL section 6, "Group calls"), watched from every member's device: who rings,
/// who is told what, and that every member ends free with the same view of the call.
/// </summary>
[Collection(ClusterGroup.Name)]
public sealed class GroupCallTests(ClusterFixture fixture)
{
    private readonly CallTestKit _kit = new(fixture.Cluster);

    [Fact]
    public async Task A_group_call_rings_every_other_member_and_the_caller_is_in_it_from_the_start()
    {
        var (guid, m) = await GroupAsync(5);
        var probe = await _kit.WatchAsync(m);

        var call = await GroupCallAsync(guid, m[0]);

        Assert.Equal(ReceiverType.Group, call.ReceiverType);
        Assert.Equal(guid, call.ReceiverId);
        Assert.Equal(CallStatus.Initiated, call.Status);
        Assert.Equal([m[0]], call.Participants.Select(p => p.Uid));
        Assert.Equal(m[1..].Order(), call.Members.Select(x => x.Uid).Order());
        Assert.All(call.Members, x => Assert.Equal(MemberStatus.Ringing, x.Status));
        foreach (var uid in m[1..])
        {
            await probe.WaitForAsync(uid, 1);
            Assert.Equal([CallEventType.IncomingCallReceived], probe.TypesFor(uid));
            Assert.Equal(call.SessionId, (await _kit.SnapshotAsync(uid)).Ringing.Single().SessionId);
        }

        Assert.Empty(probe.For(m[0]));
        Assert.Equal(call.SessionId, (await _kit.SnapshotAsync(m[0])).ActiveCall?.SessionId);
    }

    [Fact]
    public async Task A_busy_member_is_listed_busy_and_not_disturbed()
    {
        var (guid, m) = await GroupAsync(4);
        var (x, _) = await _kit.CreatePairAsync();
        var oneToOne = await _kit.ConnectAsync(x, m[2]);
        var probe = await _kit.WatchAsync(m);

        var call = await GroupCallAsync(guid, m[0]);

        Assert.Equal(MemberStatus.Busy, call.MemberStatusOf(m[2]));
        Assert.Equal(MemberStatus.Ringing, call.MemberStatusOf(m[1]));
        await probe.WaitForAsync(m[3], 1);
        await _kit.EndAsync(call.SessionId, m[0]);
        Assert.Empty(probe.For(m[2]));
        Assert.Equal(oneToOne.SessionId, (await _kit.SnapshotAsync(m[2])).ActiveCall?.SessionId);
        Assert.Equal(CallStatus.Ongoing, (await _kit.Session(oneToOne.SessionId).Peek())!.Status);
    }

    [Fact]
    public async Task Two_members_accept_both_join_the_others_hear_userJoined_and_the_caller_is_told_once()
    {
        var (guid, m) = await GroupAsync(5);
        var probe = await _kit.WatchAsync(m);
        var call = await GroupCallAsync(guid, m[0]);
        var session = _kit.Session(call.SessionId);

        var first = await session.AcceptCall(m[1], null);
        var second = await session.AcceptCall(m[2], null);

        Assert.True(first.Ok && second.Ok, first.Error?.Message ?? second.Error?.Message);
        Assert.Equal(CallStatus.Ongoing, second.Call!.Status);
        Assert.Equal([m[0], m[1], m[2]], second.Call.Participants.Where(p => p.LeftAt is null).Select(p => p.Uid));
        await probe.WaitForAsync(m[0], 3);
        await probe.WaitForAsync(m[1], 3);
        Assert.Equal([CallEventType.OutgoingCallAccepted, CallEventType.UserJoined, CallEventType.UserJoined], probe.TypesFor(m[0]));
        Assert.Equal([m[1], m[2]], probe.For(m[0]).Where(e => e.Type == CallEventType.UserJoined).Select(e => e.User!.Uid));
        Assert.Equal(
            [CallEventType.IncomingCallReceived, CallEventType.IncomingCallCanceled, CallEventType.UserJoined],
            probe.TypesFor(m[1]));
        Assert.Equal(m[2], probe.For(m[1])[2].User!.Uid);
        Assert.Equal(CancelReason.AnsweredElsewhere, probe.For(m[2])[1].Reason);

        // The members who have not answered still ring.
        Assert.Equal(call.SessionId, (await _kit.SnapshotAsync(m[3])).Ringing.Single().SessionId);
        Assert.Equal([CallEventType.IncomingCallReceived], probe.TypesFor(m[3]));
        foreach (var uid in m[..3])
        {
            Assert.Equal(call.SessionId, (await _kit.SnapshotAsync(uid)).ActiveCall?.SessionId);
        }
    }

    [Fact]
    public async Task A_member_who_rejected_can_join_later_and_a_reject_stops_only_their_ringing()
    {
        var (guid, m) = await GroupAsync(4);
        var probe = await _kit.WatchAsync(m);
        var call = await GroupCallAsync(guid, m[0]);
        var session = _kit.Session(call.SessionId);

        var rejected = await session.RejectCall(m[1], CallStatus.Rejected, null);
        Assert.True(rejected.Ok);
        Assert.Equal(CallStatus.Initiated, rejected.Call!.Status);
        Assert.Equal(MemberStatus.Rejected, rejected.Call.MemberStatusOf(m[1]));
        await _kit.AssertFreeAsync(m[1]);
        Assert.Single((await _kit.SnapshotAsync(m[2])).Ringing);

        Assert.True((await session.AcceptCall(m[2], null)).Ok);
        var joined = await session.JoinCall(m[1], null);

        Assert.True(joined.Ok, joined.Error?.Message);
        Assert.Equal(MemberStatus.Joined, joined.Call!.MemberStatusOf(m[1]));
        Assert.True(joined.Call.IsPresent(m[1]));
        Assert.Equal(call.SessionId, (await _kit.SnapshotAsync(m[1])).ActiveCall?.SessionId);
        await probe.WaitForAsync(m[2], 3);
        Assert.Equal(m[1], probe.For(m[2])[^1].User!.Uid);
        Assert.Equal(CallEventType.UserJoined, probe.For(m[2])[^1].Type);

        // Joining again is refused: they are in it.
        Assert.Equal(CallErrorCode.CallAlreadyJoined, (await session.JoinCall(m[1], null)).Error?.Code);
    }

    [Fact]
    public async Task A_member_who_left_rejoins_a_call_read_back_from_storage_without_hearing_their_own_leave_again()
    {
        var (guid, m) = await GroupAsync(3);
        var probe = await _kit.WatchAsync(m);
        var session = _kit.Session((await GroupCallAsync(guid, m[0])).SessionId);
        Assert.True((await session.AcceptCall(m[1], null)).Ok);
        Assert.True((await session.AcceptCall(m[2], null)).Ok);
        Assert.True((await session.LeaveCall(m[1], null)).Ok);
        bool Heard(CallEventType type, int after = -1) => probe.For(m[2]).Skip(after + 1).Any(e => e.Type == type && e.User?.Uid == m[1]);
        await CallTestKit.EventuallyAsync(() => Task.FromResult(Heard(CallEventType.UserLeft)), "the others told of the leave");
        var leftAt = probe.For(m[2]).Count - 1;

        // The call sits idle and leaves memory (as after 15 idle minutes, or a restart); the leaver comes back.
        await _kit.Client.GetGrain<IManagementGrain>(0).ForceActivationCollection(TimeSpan.Zero);
        var joined = await session.JoinCall(m[1], null);
        Assert.True(joined.Ok, joined.Error?.Message);
        await CallTestKit.EventuallyAsync(() => Task.FromResult(Heard(CallEventType.UserJoined, leftAt)), "the others told of the join");
        await EventProbe.SettleAsync();

        // One leave, numbered once (a redelivery keeps its seq and the gateway drops it), then the join right after it.
        var heard = probe.For(m[1]).DistinctBy(e => e.Seq).ToList();
        Assert.Single(heard, e => e.Type == CallEventType.UserLeft && e.User?.Uid == m[1]);
        Assert.Equal((CallEventType.UserLeft, CallEventType.UserJoined), (heard[^2].Type, heard[^1].Type));
        Assert.Equal(heard[^2].Seq + 1, heard[^1].Seq);
        Assert.Equal(session.GetPrimaryKeyString(), (await _kit.SnapshotAsync(m[1])).ActiveCall?.SessionId);
        Assert.True((await session.Peek())!.IsPresent(m[1]));
    }

    [Fact]
    public async Task Participants_leaving_one_by_one_end_the_call_with_the_last_and_everyone_is_free()
    {
        var (m, probe, session) = await TwoJoinedAsync();

        var left = await session.LeaveCall(m[0], null);
        Assert.True(left.Ok);
        Assert.Equal(CallStatus.Ongoing, left.Call!.Status);
        await probe.WaitForAsync(m[1], 4);
        var heard = probe.For(m[1])[^1];
        Assert.Equal((CallEventType.UserLeft, m[0]), (heard.Type, heard.User!.Uid));

        // The initiator left: their end is refused (they may join again), a member's end is a leave.
        Assert.Equal(CallErrorCode.PermissionDenied, (await session.EndCall(m[0], null)).Error?.Code);
        Assert.Equal(CallStatus.Ongoing, (await session.EndCall(m[1], null)).Call!.Status);
        var last = await session.LeaveCall(m[2], null);

        Assert.Equal(CallStatus.Ended, last.Call!.Status);
        Assert.All(last.Call.Participants, p => Assert.NotNull(p.LeftAt));
        await probe.WaitForAsync(m[3], 2);
        Assert.Equal(CancelReason.Cancelled, probe.For(m[3])[1].Reason);
        await _kit.AssertFreeAsync(m);
        Assert.Equal(CallErrorCode.CallEnded, (await session.JoinCall(m[3], null)).Error?.Code);
    }

    [Fact]
    public async Task The_initiators_end_ends_the_call_for_everyone()
    {
        var (m, probe, session) = await TwoJoinedAsync();

        var ended = await session.EndCall(m[0], null);

        Assert.Equal(CallStatus.Ended, ended.Call!.Status);
        await probe.WaitForAsync(m[1], 4);
        await probe.WaitForAsync(m[2], 3);
        await probe.WaitForAsync(m[3], 2);
        Assert.Equal(CallEventType.CallEndedMessageReceived, probe.For(m[1])[^1].Type);
        Assert.Equal(CallEventType.CallEndedMessageReceived, probe.For(m[2])[^1].Type);
        Assert.Equal(CallEventType.IncomingCallCanceled, probe.For(m[3])[^1].Type);
        await _kit.AssertFreeAsync(m);
    }

    [Fact]
    public async Task Every_member_rejecting_ends_the_call_as_rejected_and_the_caller_hears_it()
    {
        var (guid, m) = await GroupAsync(4);
        var probe = await _kit.WatchAsync(m);
        var call = await GroupCallAsync(guid, m[0]);
        var session = _kit.Session(call.SessionId);

        Assert.True((await session.RejectCall(m[1], CallStatus.Rejected, null)).Ok);
        Assert.True((await session.RejectCall(m[2], CallStatus.Busy, null)).Ok);
        var last = await session.EndCall(m[3], null);

        Assert.Equal(CallStatus.Rejected, last.Call!.Status);
        await probe.WaitForAsync(m[0], 1);
        Assert.Equal([CallEventType.OutgoingCallRejected], probe.TypesFor(m[0]));
        await _kit.AssertFreeAsync(m);

        // A new call to the group may start at once.
        var again = await GroupCallAsync(guid, m[1]);
        Assert.Equal(CallStatus.Initiated, again.Status);
        await _kit.EndAsync(again.SessionId, m[1]);
    }

    [Fact]
    public async Task A_group_with_a_live_call_answers_busy_with_that_call_so_the_member_can_join_it()
    {
        var (guid, m) = await GroupAsync(4);
        var call = await GroupCallAsync(guid, m[0]);
        Assert.True((await _kit.Session(call.SessionId).AcceptCall(m[1], null)).Ok);

        // m[3] was rung: they hang up on the ringing, then try to call the group themselves.
        Assert.True((await _kit.Session(call.SessionId).RejectCall(m[3], CallStatus.Rejected, null)).Ok);
        var second = await _kit.GroupCallAsync(guid, m[3]);

        Assert.Equal(CallErrorCode.CallBusy, second.Error?.Code);
        Assert.Equal(call.SessionId, second.Call?.SessionId);
        await _kit.AssertFreeAsync(m[3]);
        Assert.True((await _kit.Session(second.Call!.SessionId).JoinCall(m[3], null)).Ok);
    }

    [Fact]
    public async Task Strangers_cannot_call_or_join_a_group_and_unknown_groups_are_not_found()
    {
        var (guid, m) = await GroupAsync(3);
        var (stranger, _) = await _kit.CreatePairAsync();

        var called = await _kit.GroupCallAsync(guid, stranger);
        Assert.Equal(CallErrorCode.PermissionDenied, called.Error?.Code);
        Assert.Equal(CallErrorCode.GuidNotFound, (await _kit.GroupCallAsync("no-such-group-" + guid, m[0])).Error?.Code);

        var call = await GroupCallAsync(guid, m[0]);
        Assert.True((await _kit.Session(call.SessionId).AcceptCall(m[1], null)).Ok);
        Assert.Equal(CallErrorCode.PermissionDenied, (await _kit.Session(call.SessionId).JoinCall(stranger, null)).Error?.Code);
        Assert.Equal(CallErrorCode.PermissionDenied, (await _kit.Session(call.SessionId).GetCall(stranger)).Error?.Code);
        await _kit.AssertFreeAsync(stranger);

        // A stranger's refusal did not let the group take a second call.
        Assert.Equal(call.SessionId, (await _kit.GroupCallAsync(guid, m[2])).Call?.SessionId);
    }

    [Fact]
    public async Task A_member_in_a_group_call_is_busy_for_one_to_one_calls_and_the_other_way_round()
    {
        var (guid, m) = await GroupAsync(3);
        var (x, _) = await _kit.CreatePairAsync();
        var call = await GroupCallAsync(guid, m[0]);
        Assert.True((await _kit.Session(call.SessionId).AcceptCall(m[1], null)).Ok);

        Assert.Equal(CallErrorCode.CallBusy, (await _kit.CallAsync(x, m[1])).Error?.Code);
        Assert.Equal(CallErrorCode.CallInProgress, (await _kit.CallAsync(m[1], x)).Error?.Code);

        // m[2] turns the ring down, takes a 1:1 call, and cannot join the group call while in it.
        Assert.True((await _kit.Session(call.SessionId).RejectCall(m[2], CallStatus.Rejected, null)).Ok);
        var oneToOne = await _kit.ConnectAsync(x, m[2]);
        var join = await _kit.Session(call.SessionId).JoinCall(m[2], null);
        Assert.Equal(CallErrorCode.CallInProgress, join.Error?.Code);
        Assert.Equal(oneToOne.SessionId, (await _kit.SnapshotAsync(m[2])).ActiveCall?.SessionId);
        Assert.False((await _kit.Session(call.SessionId).Peek())!.IsPresent(m[2]));
    }

    [Fact]
    public async Task Five_members_accepting_at_once_all_join_and_the_caller_is_told_once()
    {
        for (var round = 0; round < 5; round++)
        {
            var (guid, m) = await GroupAsync(6);
            var probe = await _kit.WatchAsync(m);
            var call = await GroupCallAsync(guid, m[0]);
            var session = _kit.Session(call.SessionId);

            var results = await Task.WhenAll(m[1..].Select(uid => session.AcceptCall(uid, null)));

            Assert.All(results, r => Assert.True(r.Ok, r.Error?.Message));
            var now = (await session.Peek())!;
            Assert.Equal(m.Order(), now.Participants.Where(p => p.LeftAt is null).Select(p => p.Uid).Order());
            await probe.WaitForAsync(m[0], 6);
            Assert.Single(probe.TypesFor(m[0]), t => t == CallEventType.OutgoingCallAccepted);
            Assert.Equal(m[1..].Order(), probe.For(m[0]).Where(e => e.Type == CallEventType.UserJoined).Select(e => e.User!.Uid).Order());
            foreach (var uid in m)
            {
                var snap = await _kit.SnapshotAsync(uid);
                Assert.Equal(call.SessionId, snap.ActiveCall?.SessionId);
                Assert.Empty(snap.Ringing);
            }

            Assert.Equal(CallStatus.Ended, (await session.EndCall(m[0], null)).Call!.Status);
            await _kit.AssertFreeAsync(m);
        }
    }

    [Fact]
    public async Task Two_members_calling_the_group_at_once_make_one_call()
    {
        for (var round = 0; round < 5; round++)
        {
            var (guid, m) = await GroupAsync(4);
            var results = await Task.WhenAll(_kit.GroupCallAsync(guid, m[0]), _kit.GroupCallAsync(guid, m[1]));

            var won = Assert.Single(results, r => r.Ok);
            var lost = Assert.Single(results, r => !r.Ok);
            Assert.Equal(CallErrorCode.CallBusy, lost.Error!.Code);
            Assert.Equal(won.Call!.SessionId, lost.Call?.SessionId);
            await _kit.EndAsync(won.Call.SessionId, won.Call.Initiator.Uid);
            await _kit.AssertFreeAsync(m);
        }
    }

    [Fact]
    public async Task A_group_of_100_rings_all_100()
    {
        var (guid, m) = await GroupAsync(101);
        var probe = await _kit.WatchAsync(m);

        var call = await GroupCallAsync(guid, m[0]);

        Assert.Equal(100, call.Members.Count(x => x.Status == MemberStatus.Ringing));
        foreach (var uid in m[1..])
        {
            await probe.WaitForAsync(uid, 1);
        }

        Assert.Equal(CallStatus.Cancelled, (await _kit.Session(call.SessionId).RejectCall(m[0], CallStatus.Cancelled, null)).Call!.Status);
        foreach (var uid in m[1..])
        {
            await probe.WaitForAsync(uid, 2);
            Assert.Equal(CancelReason.Cancelled, probe.For(uid)[1].Reason);
        }

        await _kit.AssertFreeAsync(m);
    }

    [Fact]
    public async Task Each_member_finds_the_group_call_in_their_history_with_direction_and_missed()
    {
        var (guid, m) = await GroupAsync(5);
        var (x, _) = await _kit.CreatePairAsync();
        await _kit.ConnectAsync(x, m[4]);
        var call = await GroupCallAsync(guid, m[0]);
        var session = _kit.Session(call.SessionId);
        Assert.True((await session.AcceptCall(m[1], null)).Ok);
        Assert.True((await session.RejectCall(m[2], CallStatus.Rejected, null)).Ok);
        Assert.True((await session.EndCall(m[0], null)).Ok);

        var expected = new Dictionary<string, (CallDirection, bool)>
        {
            [m[0]] = (CallDirection.Outgoing, false),
            [m[1]] = (CallDirection.Incoming, false),
            [m[2]] = (CallDirection.Incoming, false),
            [m[3]] = (CallDirection.Incoming, true),
            [m[4]] = (CallDirection.Incoming, true),
        };
        foreach (var (uid, (direction, missed)) in expected)
        {
            await CallTestKit.EventuallyAsync(
                async () => (await _kit.Log.QueryAsync(uid, new CallLogQuery())).Entries.Any(e => e.Call.SessionId == call.SessionId),
                $"the call in {uid}'s history");
            var entry = (await _kit.Log.QueryAsync(uid, new CallLogQuery())).Entries.Single(e => e.Call.SessionId == call.SessionId);
            Assert.Equal((direction, missed), (entry.Direction, entry.Missed));
            Assert.Equal(CallStatus.Ended, entry.Call.Status);
        }
    }

    /// <summary>A group of four, watched: the first calls, the next two accept, the last still rings.</summary>
    private async Task<(string[] Members, EventProbe Probe, ICallSessionGrain Session)> TwoJoinedAsync()
    {
        var (guid, m) = await GroupAsync(4);
        var probe = await _kit.WatchAsync(m);
        var session = _kit.Session((await GroupCallAsync(guid, m[0])).SessionId);
        Assert.True((await session.AcceptCall(m[1], null)).Ok);
        Assert.True((await session.AcceptCall(m[2], null)).Ok);
        return (m, probe, session);
    }

    /// <summary>A group of <paramref name="size"/> new users; the first is the one who calls.</summary>
    private async Task<(string Guid, string[] Members)> GroupAsync(int size)
    {
        var members = await _kit.CreateUsersAsync(size, "g");
        var guid = "grp-" + Guid.NewGuid().ToString("N")[..10];
        var created = await _kit.Client.GetGrain<IGroupGrain>(guid).Create("Team", [.. members]);
        Assert.Equal(GroupOutcome.Done, created.Outcome);
        return (guid, members);
    }

    private async Task<CallInfo> GroupCallAsync(string guid, string caller)
    {
        var result = await _kit.GroupCallAsync(guid, caller);
        Assert.True(result.Ok, result.Error?.Message);
        return result.Call!;
    }
}
