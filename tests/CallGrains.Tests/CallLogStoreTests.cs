using CallGrains.Abstractions;
using CallGrains.Grains;
using CallGrains.Grains.History;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Time.Testing;
using Orleans.TestingHost;

namespace CallGrains.Tests;

/// <summary>
/// A call log store as a user's history reads: newest first, pages that never skip or repeat, filters, a bounded scan
/// per page, the per-user cap and each call once. Run against both stores: <see cref="MemoryCallLogTests"/> (the
/// embedded default's grains) and <see cref="RedisCallLogTests"/> (a real redis-server).
/// </summary>
public abstract class CallLogStoreTests : IAsyncLifetime
{
    protected const int Cap = 2000;
    protected static readonly TimeSpan Retention = TimeSpan.FromHours(1);

    private int _made;

    protected FakeTimeProvider Clock { get; } = new(DateTimeOffset.UtcNow);

    protected ICallLog Log { get; set; } = null!;

    public abstract Task InitializeAsync();

    public abstract Task DisposeAsync();

    [Fact]
    public async Task Pages_of_7_skip_and_repeat_nothing_while_new_calls_arrive()
    {
        var (me, peers) = NewUsers(5);
        var before = new List<CallInfo>();
        for (var i = 0; i < 250; i++)
        {
            // Groups of three calls share a millisecond: the order must still be strict.
            before.Add(await AppendAsync(Call(me, peers[i % peers.Length], i / 3, kind: i % 7)));
        }

        var seen = new List<CallLogEntry>();
        CallLogPosition? after = null;
        for (var page = 0; page < 100; page++)
        {
            var result = await Log.QueryAsync(me, new CallLogQuery { Limit = 7, After = after });
            Assert.True(result.Entries.Length <= 7);
            seen.AddRange(result.Entries);

            // New calls keep coming, newer than everything paged so far, and some older ones settle late.
            await AppendAsync(Call(me, peers[page % peers.Length], 300 + page, kind: page % 7));
            if (result.Next is null)
            {
                break;
            }

            after = result.Next;
        }

        var ids = seen.Select(e => e.Call.SessionId).ToList();
        Assert.Equal(ids.Count, ids.Distinct().Count());
        Assert.Subset(ids.ToHashSet(), before.Select(c => c.SessionId).ToHashSet());
        Assert.Equal(before.Count, ids.Count(id => before.Any(c => c.SessionId == id)));
        Assert.Equal(seen.Select(e => e.Position), seen.Select(e => e.Position).Order(CallLogPosition.NewestFirst));
    }

    [Fact]
    public async Task Each_filter_returns_exactly_the_calls_it_names()
    {
        var (me, peers) = NewUsers(3);
        var calls = new List<CallInfo>();
        for (var i = 0; i < 140; i++)
        {
            calls.Add(await AppendAsync(Call(me, peers[i % peers.Length], i, kind: i % 7, video: i % 3 == 0)));
        }

        var entries = calls.Select(c => CallHistory.EntryFor(c, me)).ToList();
        CallLogQuery[] queries =
        [
            new() { Missed = true },
            new() { Missed = false },
            new() { Direction = CallDirection.Incoming },
            new() { Direction = CallDirection.Outgoing, Status = CallStatus.Ended },
            new() { Status = CallStatus.Busy },
            new() { CallType = CallType.Video, Missed = true },
            new() { ReceiverType = ReceiverType.Group },
        ];
        foreach (var query in queries)
        {
            var expected = entries
                .Where(e => (query.Missed is null || e.Missed == query.Missed)
                    && (query.Direction is null || e.Direction == query.Direction)
                    && (query.Status is null || e.Call.Status == query.Status)
                    && (query.CallType is null || e.Call.CallType == query.CallType)
                    && (query.ReceiverType is null || e.Call.ReceiverType == query.ReceiverType))
                .OrderBy(e => e.Position, CallLogPosition.NewestFirst)
                .Select(e => e.Call.SessionId);
            Assert.Equal(expected, await AllAsync(me, query with { Limit = 9 }));
        }

        Assert.NotEmpty(await AllAsync(me, new CallLogQuery { Missed = true }));
    }

    [Fact]
    public async Task A_page_examines_a_bounded_number_of_entries_and_says_where_to_go_on()
    {
        var (me, peers) = NewUsers(1);
        for (var i = 0; i < CallHistory.MaxScanPerPage + 200; i++)
        {
            await AppendAsync(Call(me, peers[0], i, kind: 0));
        }

        // Nothing is incoming: the first page gives up after MaxScanPerPage entries, the second reaches the end.
        var first = await Log.QueryAsync(me, new CallLogQuery { Direction = CallDirection.Incoming });
        Assert.Empty(first.Entries);
        Assert.NotNull(first.Next);
        var second = await Log.QueryAsync(me, new CallLogQuery { Direction = CallDirection.Incoming, After = first.Next });
        Assert.Empty(second.Entries);
        Assert.Null(second.Next);
    }

    [Fact]
    public async Task History_keeps_the_newest_entries_up_to_the_cap_and_each_call_once()
    {
        var (me, peers) = NewUsers(1);
        var calls = new List<CallInfo>();
        for (var i = 0; i < Cap + 30; i++)
        {
            calls.Add(await AppendAsync(Call(me, peers[0], i, kind: i % 7)));
        }

        // Archived twice (a redelivery after a crash): still one entry.
        await Log.AppendAsync(calls[^1]);
        await Log.AppendAsync(calls[^1]);

        var ids = await AllAsync(me, new CallLogQuery { Limit = CallHistory.MaxPageSize });
        Assert.Equal(Cap, ids.Count);
        Assert.Equal(calls.TakeLast(Cap).Reverse().Select(c => c.SessionId), ids);
    }

    [Fact]
    public async Task Calls_settling_out_of_order_are_paged_newest_first_and_the_cap_keeps_the_newest()
    {
        var (me, peers) = NewUsers(4);
        var random = new Random(22);

        // Calls settle in any order (a long call ends after a short one that began later); some share a millisecond.
        var calls = Enumerable.Range(0, Cap + 150).Select(i => Call(me, peers[i % peers.Length], random.Next(0, 1500), kind: i % 7)).ToList();
        foreach (var batch in calls.OrderBy(_ => random.Next()).Chunk(50))
        {
            await Task.WhenAll(batch.Select(Log.AppendAsync));
        }

        var expected = calls.Select(c => CallHistory.EntryFor(c, me)).OrderBy(e => e.Position, CallLogPosition.NewestFirst).Take(Cap);
        Assert.Equal(expected.Select(e => e.Call.SessionId), await AllAsync(me, new CallLogQuery { Limit = 13 }));
    }

    [Fact]
    public async Task A_group_call_reaches_every_members_history_as_they_took_part()
    {
        var (host, members) = NewUsers(5);
        var at = Clock.GetUtcNow();
        var group = await AppendAsync(GroupCall(host, members, at));

        Assert.Equal([group.SessionId], await AllAsync(host, new CallLogQuery { Direction = CallDirection.Outgoing }));
        Assert.Equal([group.SessionId], await AllAsync(members[0], new CallLogQuery { Direction = CallDirection.Incoming }));
        Assert.Equal([group.SessionId], await AllAsync(members[1], new CallLogQuery { Status = CallStatus.Ended }));
        foreach (var missed in members.Skip(2))
        {
            var entry = Assert.Single((await Log.QueryAsync(missed, new CallLogQuery())).Entries);
            Assert.True(entry.Missed, $"{missed} neither joined nor declined: a missed call");
        }

        var declined = Assert.Single((await Log.QueryAsync(members[1], new CallLogQuery())).Entries);
        Assert.False(declined.Missed, "a member who declined did not miss the call");
        Assert.Equal(group.SessionId, (await Log.FindAsync(group.SessionId))?.SessionId);
    }

    /// <summary>A settled group call of <paramref name="host"/>'s: the first member joined, the second declined, the others were rung and missed it.</summary>
    protected CallInfo GroupCall(string host, string[] members, DateTimeOffset at) => new()
    {
        SessionId = $"{Interlocked.Increment(ref _made):D6}-{Guid.NewGuid():N}",
        CallType = CallType.Video,
        ReceiverType = ReceiverType.Group,
        ReceiverId = "team-" + host,
        Initiator = new UserRef(host, host),
        Status = CallStatus.Ended,
        InitiatedAt = at,
        JoinedAt = at,
        EndedAt = at.AddSeconds(5),
        Participants = [new Participant(host, at, at.AddSeconds(5)), new Participant(members[0], at, at.AddSeconds(5))],
        Declined = [members[1]],
        Members = [.. members.Select((m, i) => new CallMember(m, m, i == 0 ? MemberStatus.Joined : i == 1 ? MemberStatus.Rejected : MemberStatus.Unanswered))],
    };

    protected static (string Me, string[] Peers) NewUsers(int peers)
    {
        var run = Guid.NewGuid().ToString("N")[..8];
        return ($"me-{run}", [.. Enumerable.Range(0, peers).Select(i => $"p{i}-{run}")]);
    }

    protected async Task<CallInfo> AppendAsync(CallInfo call)
    {
        await Log.AppendAsync(call);
        return call;
    }

    protected async Task<List<string>> AllAsync(string uid, CallLogQuery query)
    {
        var ids = new List<string>();
        for (var page = 0; page < 1000; page++)
        {
            var result = await Log.QueryAsync(uid, query);
            ids.AddRange(result.Entries.Select(e => e.Call.SessionId));
            if (result.Next is null)
            {
                return ids;
            }

            query = query with { After = result.Next };
        }

        throw new InvalidOperationException("the log did not end");
    }

    /// <summary>
    /// A settled call of one of seven kinds: out/in ended, out rejected, in rejected (declined), in cancelled (missed),
    /// in unanswered (missed), in busy (missed).
    /// </summary>
    protected CallInfo Call(string me, string peer, int millisecond, int kind, bool video = false)
    {
        var outgoing = kind is 0 or 2;
        var (caller, callee) = outgoing ? (me, peer) : (peer, me);
        var at = Clock.GetUtcNow().AddMilliseconds(millisecond);
        var status = kind switch
        {
            0 or 1 => CallStatus.Ended,
            2 or 3 => CallStatus.Rejected,
            4 => CallStatus.Cancelled,
            5 => CallStatus.Unanswered,
            _ => CallStatus.Busy,
        };
        return new CallInfo
        {
            SessionId = $"{Interlocked.Increment(ref _made):D6}-{Guid.NewGuid():N}",
            CallType = video ? CallType.Video : CallType.Audio,
            ReceiverType = ReceiverType.User,
            ReceiverId = callee,
            Initiator = new UserRef(caller, caller),
            Status = status,
            InitiatedAt = at,
            JoinedAt = status == CallStatus.Ended ? at : null,
            EndedAt = at.AddSeconds(1),
            Participants = status == CallStatus.Ended ? [new Participant(caller, at, at.AddSeconds(1)), new Participant(callee, at, at.AddSeconds(1))] : [],
            Declined = status == CallStatus.Rejected ? [callee] : [],
        };
    }
}

/// <summary>The embedded default's store: users' <see cref="CallLogGrain"/>s and the record shards, on a fake clock.</summary>
public sealed class MemoryCallLogTests : CallLogStoreTests
{
    private InProcessTestCluster _cluster = null!;

    public override async Task InitializeAsync()
    {
        var builder = new InProcessTestClusterBuilder(2);
        builder.ConfigureSilo((_, silo) =>
        {
            silo.Services.Replace(ServiceDescriptor.Singleton<TimeProvider>(Clock));
            silo.Services.UseTimeProviderForBackgroundAreas(TimeProvider.System);
            ClusterFixture.AddEmbeddedCallGrains(silo);
            silo.Services.PostConfigure<CallOptions>(o =>
            {
                o.MaxLogEntriesPerUser = Cap;
                o.LogRetention = Retention;
            });
        });
        _cluster = builder.Build();
        await _cluster.DeployAsync();
        Log = _cluster.Silos[0].ServiceProvider.GetRequiredService<ICallLog>();
    }

    public override async Task DisposeAsync()
    {
        await _cluster.StopAllSilosAsync();
        await _cluster.DisposeAsync();
    }

    [Fact]
    public async Task Entries_and_records_go_after_the_retention()
    {
        var (me, peers) = NewUsers(1);
        var old = await AppendAsync(Call(me, peers[0], 0, kind: 0));
        Clock.Advance(Retention / 2);
        var recent = await AppendAsync(Call(me, peers[0], 0, kind: 1));

        Clock.Advance((Retention / 2) + TimeSpan.FromSeconds(1));

        Assert.Equal([recent.SessionId], await AllAsync(me, new CallLogQuery()));
        Assert.Null(await Log.FindAsync(old.SessionId));
        Assert.NotNull(await Log.FindAsync(recent.SessionId));
        Assert.Equal([recent.SessionId], await AllAsync(peers[0], new CallLogQuery()));

        Clock.Advance(Retention);
        Assert.Empty(await AllAsync(me, new CallLogQuery()));
        Assert.Null(await Log.FindAsync(recent.SessionId));
    }

    [Fact]
    public async Task Half_a_history_expired_at_once_keeps_the_rest_in_order_for_the_calls_that_follow()
    {
        var (me, peers) = NewUsers(2);
        var old = new List<CallInfo>();
        for (var i = 0; i < 300; i++)
        {
            old.Add(await AppendAsync(Call(me, peers[i % 2], 10 * i, kind: i % 7)));
        }

        // The 150 oldest expire together (10 ms apart, so the boundary is clear of the store's millisecond precision).
        var sinceFirst = (int)(Retention + TimeSpan.FromMilliseconds(1495)).TotalMilliseconds;
        Clock.Advance(TimeSpan.FromMilliseconds(sinceFirst));

        // Later calls began between the survivors and after them, and settle in any order.
        var random = new Random(23);
        var later = Enumerable.Range(0, 120).Select(i => Call(me, peers[i % 2], random.Next(1500, 3500) - sinceFirst, kind: i % 7)).ToList();
        foreach (var call in later)
        {
            await Log.AppendAsync(call);
        }

        var kept = old.Skip(150).Concat(later).Select(c => CallHistory.EntryFor(c, me)).OrderBy(e => e.Position, CallLogPosition.NewestFirst);
        Assert.Equal(kept.Select(e => e.Call.SessionId), await AllAsync(me, new CallLogQuery { Limit = 11 }));
        Assert.Null(await Log.FindAsync(old[0].SessionId));
        Assert.NotNull(await Log.FindAsync(later[0].SessionId));
    }
}
