using CallGrains.Abstractions;
using CallGrains.Grains;

namespace CallGrains.Tests;

/// <summary>
/// The abuse bounds of PROTOCOL section 6 and docs/reliability.md ("Abuse bounds") at their defaults, on a fake clock:
/// a user's initiates (burst, then a pace, summed over devices), what one caller can put into one callee's history, a
/// group's starts, and that a refused initiate stores, rings and logs nothing.
/// </summary>
[Collection(QuotaGroup.Name)]
public sealed class QuotaTests(QuotaFixture fixture)
{
    private static readonly CallOptions Defaults = new();
    private readonly CallTestKit _kit = new(fixture.Cluster);

    [Fact]
    public async Task A_user_starts_a_burst_of_calls_then_is_paced_whichever_device_asks()
    {
        var caller = (await _kit.CreateUsersAsync(1, "m"))[0];
        var callees = await _kit.CreateUsersAsync(Defaults.InitiateBurst + 3, "z");
        for (var i = 0; i < Defaults.InitiateBurst; i++)
        {
            await RingAndCancelAsync(caller, callees[i], i % 2 == 0 ? "phone" : "laptop");
        }

        var refused = await _kit.CallAsync(caller, callees[Defaults.InitiateBurst], deviceId: "phone");
        Assert.Equal(CallErrorCode.TooManyRequests, refused.Error?.Code);
        Assert.Null(refused.Call);
        Assert.Equal(CallErrorCode.TooManyRequests, (await _kit.CallAsync(caller, callees[Defaults.InitiateBurst], deviceId: "laptop")).Error?.Code);

        // 30 a minute: one more every 2 s.
        await fixture.AdvanceAsync(TimeSpan.FromSeconds(3));
        await RingAndCancelAsync(caller, callees[Defaults.InitiateBurst + 1], "laptop");
        Assert.Equal(CallErrorCode.TooManyRequests, (await _kit.CallAsync(caller, callees[Defaults.InitiateBurst + 2], deviceId: "phone")).Error?.Code);
    }

    [Fact]
    public async Task A_refused_initiate_rings_no_one_and_leaves_no_trace_whichever_user_is_reserved_first()
    {
        var caller = (await _kit.CreateUsersAsync(1, "m"))[0];
        var others = await _kit.CreateUsersAsync(Defaults.InitiateBurst, "n");
        var (low, high) = ((await _kit.CreateUsersAsync(1, "a"))[0], (await _kit.CreateUsersAsync(1, "z"))[0]);
        var probe = await _kit.WatchAsync(caller, low, high);
        foreach (var other in others)
        {
            await RingAndCancelAsync(caller, other, null);
        }

        var seqs = (await _kit.SnapshotAsync(low)).Seq + (await _kit.SnapshotAsync(high)).Seq;
        var refusedIds = new List<string>();
        foreach (var callee in new[] { low, high })
        {
            var sessionId = Identifiers.NewSessionId();
            refusedIds.Add(sessionId);
            Assert.Equal(CallErrorCode.TooManyRequests, (await _kit.CallAsync(caller, callee, sessionId: sessionId)).Error?.Code);
        }

        await EventProbe.SettleAsync();
        Assert.Empty(probe.For(low));
        Assert.Empty(probe.For(high));
        Assert.Equal(seqs, (await _kit.SnapshotAsync(low)).Seq + (await _kit.SnapshotAsync(high)).Seq);
        await _kit.AssertFreeAsync(caller, low, high);
        await CallTestKit.EventuallyAsync(async () => (await _kit.Log.QueryAsync(caller, new CallLogQuery())).Entries.Length == others.Length, "the caller's cancelled calls in history");
        foreach (var sessionId in refusedIds)
        {
            Assert.Null(await _kit.Session(sessionId).Peek());
            Assert.Null(await _kit.Log.FindAsync(sessionId));
        }

        Assert.Empty((await _kit.Log.QueryAsync(low, new CallLogQuery())).Entries);
        Assert.Empty((await _kit.Log.QueryAsync(high, new CallLogQuery())).Entries);
        Assert.DoesNotContain((await _kit.Log.QueryAsync(caller, new CallLogQuery())).Entries, e => refusedIds.Contains(e.Call.SessionId));
    }

    [Fact]
    public async Task One_caller_puts_at_most_the_daily_cap_of_unanswered_calls_into_one_callees_history()
    {
        var (caller, callee) = await _kit.CreatePairAsync();
        var busyWith = (await _kit.CreateUsersAsync(1, "b"))[0];
        var cap = Defaults.MaxUnansweredFromCallerPerDay;
        for (var i = 0; i < cap; i++)
        {
            // Paced within the caller's own quota; the last few find the callee busy (those count too).
            await fixture.AdvanceAsync(TimeSpan.FromSeconds(3));
            if (i == cap - 3)
            {
                await _kit.ConnectAsync(busyWith, callee);
            }

            if (i >= cap - 3)
            {
                Assert.Equal(CallErrorCode.CallBusy, (await _kit.CallAsync(caller, callee)).Error?.Code);
            }
            else
            {
                await RingAndCancelAsync(caller, callee, null);
            }
        }

        await fixture.AdvanceAsync(TimeSpan.FromSeconds(3));
        var probe = await _kit.WatchAsync(callee);
        var refused = await _kit.CallAsync(caller, callee);
        Assert.Equal(CallErrorCode.TooManyRequests, refused.Error?.Code);
        Assert.Null(refused.Call);

        // The callee's history holds the cap from this caller, the busy ones counted too, and was rung no more.
        await CallTestKit.EventuallyAsync(async () => (await _kit.Log.QueryAsync(callee, new CallLogQuery())).Entries.Count(e => e.Call.Initiator.Uid == caller) == cap, $"{cap} calls from {caller}");
        await EventProbe.SettleAsync();
        Assert.Empty(probe.For(callee));
        Assert.Equal(cap, (await _kit.Log.QueryAsync(callee, new CallLogQuery())).Entries.Count(e => e.Call.Initiator.Uid == caller));

        // A day later the count starts again.
        await fixture.AdvanceAsync(TimeSpan.FromDays(1));
        Assert.Equal(CallErrorCode.CallBusy, (await _kit.CallAsync(caller, callee)).Error?.Code);
    }

    [Fact]
    public async Task A_busy_caller_trying_again_and_again_is_not_counted_against_the_callee_they_never_rang()
    {
        // The callee's uid sorts first, so each attempt reserves the callee before it finds the caller busy.
        var (callee, caller, peer) = ((await _kit.CreateUsersAsync(1, "a"))[0], (await _kit.CreateUsersAsync(1, "z"))[0], (await _kit.CreateUsersAsync(1, "p"))[0]);
        var inCall = await _kit.ConnectAsync(caller, peer);
        var probe = await _kit.WatchAsync(callee);
        for (var i = 0; i < Defaults.MaxUnansweredFromCallerPerDay + 2; i++)
        {
            await fixture.AdvanceAsync(TimeSpan.FromSeconds(3));
            Assert.Equal(CallErrorCode.CallInProgress, (await _kit.CallAsync(caller, callee)).Error?.Code);
        }

        await EventProbe.SettleAsync();
        Assert.Empty(probe.For(callee));
        await _kit.EndAsync(inCall.SessionId, caller);
        await _kit.EventuallyFreeAsync(caller, peer, callee);
        await fixture.AdvanceAsync(TimeSpan.FromSeconds(3));
        var rung = await _kit.CallAsync(caller, callee);
        Assert.True(rung.Ok, rung.Error?.Message);
        Assert.True((await _kit.Session(rung.Call!.SessionId).RejectCall(caller, CallStatus.Cancelled, null)).Ok);
        await _kit.EventuallyFreeAsync(caller, callee);
        Assert.Empty((await _kit.Log.QueryAsync(callee, new CallLogQuery())).Entries.Where(e => e.Call.SessionId != rung.Call.SessionId));
    }

    [Fact]
    public async Task A_group_call_leaves_out_a_member_who_has_not_answered_the_daily_cap_of_its_callers_calls()
    {
        var m = await _kit.CreateUsersAsync(3, "p");
        var guid = "grp-" + Guid.NewGuid().ToString("N")[..10];
        Assert.Equal(GroupOutcome.Done, (await _kit.Client.GetGrain<IGroupGrain>(guid).Create("Team", [.. m])).Outcome);
        for (var i = 0; i < Defaults.MaxUnansweredFromCallerPerDay; i++)
        {
            await fixture.AdvanceAsync(TimeSpan.FromSeconds(3));
            await RingAndCancelAsync(m[0], m[1], null);
        }

        var probe = await _kit.WatchAsync(m[1]);
        var started = await _kit.GroupCallAsync(guid, m[0]);
        Assert.True(started.Ok, started.Error?.Message);
        Assert.Equal([m[2]], started.Call!.Members.Select(x => x.Uid));
        await EventProbe.SettleAsync();
        Assert.Empty(probe.For(m[1]));
    }

    [Fact]
    public async Task Answering_a_caller_clears_their_count()
    {
        var (caller, callee) = await _kit.CreatePairAsync();
        for (var i = 0; i < Defaults.MaxUnansweredFromCallerPerDay - 1; i++)
        {
            await fixture.AdvanceAsync(TimeSpan.FromSeconds(3));
            await RingAndCancelAsync(caller, callee, null);
        }

        await fixture.AdvanceAsync(TimeSpan.FromSeconds(3));
        var answered = await _kit.ConnectAsync(caller, callee);
        await _kit.EndAsync(answered.SessionId, callee);
        await _kit.EventuallyFreeAsync(caller, callee);
        for (var i = 0; i < 3; i++)
        {
            await fixture.AdvanceAsync(TimeSpan.FromSeconds(3));
            await RingAndCancelAsync(caller, callee, null);
        }
    }

    [Fact]
    public async Task A_busy_attempt_keeps_no_metadata()
    {
        var (a, b) = await _kit.CreatePairAsync();
        var c = (await _kit.CreateUsersAsync(1, "c"))[0];
        await _kit.ConnectAsync(a, b);
        var busy = await _kit.Session(Identifiers.NewSessionId()).InitiateCall(new InitiateRequest
        {
            CallerUid = c,
            ReceiverId = b,
            CallType = CallType.Audio,
            Metadata = $"{{\"spam\":\"{new string('x', 3000)}\"}}",
        });

        Assert.Equal(CallErrorCode.CallBusy, busy.Error?.Code);
        Assert.Null(busy.Call!.Metadata);
        await CallTestKit.EventuallyAsync(async () => (await _kit.Log.QueryAsync(b, new CallLogQuery())).Entries.Any(e => e.Call.Status == CallStatus.Busy), "the busy entry");
        Assert.Null((await _kit.Log.FindAsync(busy.Call.SessionId))!.Metadata);
        Assert.All((await _kit.Log.QueryAsync(b, new CallLogQuery())).Entries.Where(e => e.Call.Status == CallStatus.Busy), e => Assert.Null(e.Call.Metadata));
    }

    [Fact]
    public async Task A_group_rings_its_members_a_bounded_number_of_times_a_minute_whoever_starts_it()
    {
        var m = await _kit.CreateUsersAsync(4, "g");
        var guid = "grp-" + Guid.NewGuid().ToString("N")[..10];
        Assert.Equal(GroupOutcome.Done, (await _kit.Client.GetGrain<IGroupGrain>(guid).Create("Team", [.. m])).Outcome);
        for (var i = 0; i < Defaults.GroupCallBurst; i++)
        {
            var started = await _kit.GroupCallAsync(guid, m[i % 2]);
            Assert.True(started.Ok, started.Error?.Message);
            Assert.True((await _kit.Session(started.Call!.SessionId).RejectCall(m[i % 2], CallStatus.Cancelled, null)).Ok);
            await _kit.EventuallyFreeAsync(m);
        }

        var probe = await _kit.WatchAsync(m);
        var refused = await _kit.GroupCallAsync(guid, m[2]);
        Assert.Equal(CallErrorCode.TooManyRequests, refused.Error?.Code);
        Assert.Null(await _kit.Client.GetGrain<IGroupGrain>(guid).GetLiveCall());
        await EventProbe.SettleAsync();
        Assert.All(m, uid => Assert.Empty(probe.For(uid)));

        await fixture.AdvanceAsync(TimeSpan.FromSeconds(60.0 / Defaults.GroupCallsPerMinute + 1));
        Assert.True((await _kit.GroupCallAsync(guid, m[3])).Ok);
    }

    [Fact]
    public async Task A_member_on_another_call_starting_the_group_again_and_again_leaves_the_groups_starts_to_the_others()
    {
        var m = await _kit.CreateUsersAsync(3, "g");
        var outsider = (await _kit.CreateUsersAsync(1, "o"))[0];
        var guid = "grp-" + Guid.NewGuid().ToString("N")[..10];
        Assert.Equal(GroupOutcome.Done, (await _kit.Client.GetGrain<IGroupGrain>(guid).Create("Team", [.. m])).Outcome);
        await _kit.ConnectAsync(m[0], outsider);
        for (var i = 0; i < Defaults.GroupCallBurst + 2; i++)
        {
            Assert.Equal(CallErrorCode.CallInProgress, (await _kit.GroupCallAsync(guid, m[0])).Error?.Code);
        }

        // Nobody rang: the group's starts are all there, on the same (fake) clock.
        for (var i = 0; i < Defaults.GroupCallBurst; i++)
        {
            var started = await _kit.GroupCallAsync(guid, m[1]);
            Assert.True(started.Ok, started.Error?.Message);
            Assert.True((await _kit.Session(started.Call!.SessionId).RejectCall(m[1], CallStatus.Cancelled, null)).Ok);
            await _kit.EventuallyFreeAsync(m[1], m[2]);
        }

        Assert.Equal(CallErrorCode.TooManyRequests, (await _kit.GroupCallAsync(guid, m[2])).Error?.Code);
    }

    private async Task RingAndCancelAsync(string caller, string callee, string? deviceId)
    {
        var rung = await _kit.CallAsync(caller, callee, deviceId: deviceId);
        Assert.True(rung.Ok, rung.Error?.Message);
        Assert.True((await _kit.Session(rung.Call!.SessionId).RejectCall(caller, CallStatus.Cancelled, deviceId)).Ok);
        await _kit.EventuallyFreeAsync(caller, callee);
    }
}
