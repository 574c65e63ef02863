using CallGrains.Abstractions;
using CallGrains.Grains.Deadlines;
using CallGrains.Host.Redis;
using Microsoft.Extensions.DependencyInjection;

namespace CallGrains.Tests;

/// <summary>
/// Calls outlive the silo that holds them. Memory storage lives in the silos and dies with them, so this cluster
/// keeps grain state and the ring deadline index in a real redis-server, as production does.
/// </summary>
public sealed class SiloFailureTests : RedisClusterTest
{
    private const int Calls = 8;
    private const int TimeoutSeconds = 5;

    [Fact]
    public async Task A_ringing_call_still_times_out_after_its_silo_is_killed()
    {
        var kit = new CallTestKit(Cluster);
        var users = await kit.CreateUsersAsync(Calls * 2);
        var calls = new List<CallInfo>();
        for (var i = 0; i < Calls; i++)
        {
            calls.Add(await kit.RingAsync(users[2 * i], users[(2 * i) + 1], TimeoutSeconds));
        }

        // Kill a secondary silo that holds at least one of the ringing calls.
        var management = Cluster.Client.GetGrain<IManagementGrain>(0);
        var stats = await management.GetDetailedGrainStatistics();
        var sessionIds = calls.Select(c => c.SessionId).ToHashSet();
        var primary = Cluster.Silos[0].SiloAddress;
        var victim = stats.Where(s => sessionIds.Contains(s.GrainId.Key.ToString()!) && !s.SiloAddress.Equals(primary))
            .Select(s => s.SiloAddress).First();
        var onVictim = stats.Where(s => s.SiloAddress.Equals(victim) && sessionIds.Contains(s.GrainId.Key.ToString()!))
            .Select(s => s.GrainId.Key.ToString()!).ToList();
        Assert.NotEmpty(onVictim);
        await Cluster.KillSiloAsync(Cluster.Silos.Single(s => s.SiloAddress.Equals(victim)));

        // Nothing touches the session grains now: a request would reactivate them and re-arm their timers, and the
        // point is that the ring deadline sweep alone brings them back. The parties are freed only by their call timing out.
        foreach (var uid in users)
        {
            await CallTestKit.EventuallyAsync(
                async () => (await kit.SnapshotAsync(uid)) is { ActiveCall: null, Ringing.IsEmpty: true },
                $"{uid} freed by the ring timeout",
                timeoutMs: 90_000);
        }

        foreach (var call in calls)
        {
            Assert.Equal(CallStatus.Unanswered, (await kit.Session(call.SessionId).Peek())!.Status);
        }

        await kit.AssertConsistentAsync(users, sessionIds);
    }

    [Fact]
    public async Task The_ring_deadline_index_holds_only_ringing_calls()
    {
        var kit = new CallTestKit(Cluster);
        var deadlines = Cluster.Silos[0].ServiceProvider.GetRequiredService<IRingDeadlines>();
        Assert.True(deadlines.Durable);
        var users = await kit.CreateUsersAsync(10);
        var calls = new List<CallInfo>();
        for (var i = 0; i < 5; i++)
        {
            calls.Add(await kit.RingAsync(users[2 * i], users[(2 * i) + 1], TimeoutSeconds));
        }

        Assert.Equal(calls.Select(c => c.SessionId).Order(), (await IndexedAsync(deadlines)).Order());

        // Two accepted, one rejected, one cancelled, one left to time out; and a stale entry for a call that was
        // never stored (an initiate that failed after adding it), which the sweep must drop.
        Assert.True((await kit.Session(calls[0].SessionId).AcceptCall(users[1], null)).Ok);
        Assert.True((await kit.Session(calls[1].SessionId).AcceptCall(users[3], null)).Ok);
        Assert.True((await kit.Session(calls[2].SessionId).RejectCall(users[5], CallStatus.Rejected, null)).Ok);
        Assert.True((await kit.Session(calls[3].SessionId).RejectCall(users[6], CallStatus.Cancelled, null)).Ok);

        // A settled call stays indexed until it is archived (so a crash before that is recovered), just after.
        await CallTestKit.EventuallyAsync(
            async () => (await IndexedAsync(deadlines)).SequenceEqual([calls[4].SessionId]),
            "only the ringing call indexed once the others are archived");
        var stale = Identifiers.NewSessionId();
        await deadlines.AddAsync(stale, DateTimeOffset.UtcNow.AddSeconds(1));
        Assert.Equal(new[] { calls[4].SessionId, stale }.Order(), (await IndexedAsync(deadlines)).Order());

        await CallTestKit.EventuallyAsync(async () => (await IndexedAsync(deadlines)).Count == 0, "index emptied", timeoutMs: 30_000);
        Assert.Equal(CallStatus.Unanswered, (await kit.Session(calls[4].SessionId).Peek())!.Status);
        Assert.Null(await kit.Session(stale).Peek());
        await kit.AssertFreeAsync(users[8], users[9]);
    }

    private static Task<IReadOnlyList<string>> IndexedAsync(IRingDeadlines deadlines) => deadlines.ListAsync(RingDeadlineSweeper.Batch);

    [Fact]
    public async Task Sweeps_claim_due_calls_so_silos_share_a_backlog()
    {
        // An index of its own (another service id): the cluster's sweeps do not touch it.
        await using var index = new RedisRingDeadlines(
            RedisSilo.Options(RedisConnectionString),
            Microsoft.Extensions.Options.Options.Create(new Orleans.Configuration.ClusterOptions { ServiceId = $"claims-{Guid.NewGuid():N}" }));
        var now = DateTimeOffset.UtcNow;
        for (var i = 0; i < 10; i++)
        {
            await index.AddAsync($"past-{i}", now.AddSeconds(-20 + i));
        }

        await index.AddAsync("future", now.AddMinutes(1));

        var first = await index.ClaimDueAsync(now, 6, now.AddSeconds(5));
        var second = await index.ClaimDueAsync(now, 6, now.AddSeconds(5));
        var third = await index.ClaimDueAsync(now, 6, now.AddSeconds(5));
        var later = await index.ClaimDueAsync(now.AddSeconds(6), 20, now.AddSeconds(30));

        Assert.Equal(Enumerable.Range(0, 6).Select(i => $"past-{i}"), first);
        Assert.Equal(Enumerable.Range(6, 4).Select(i => $"past-{i}"), second);
        Assert.Empty(third);
        Assert.Equal(10, later.Count);
        Assert.DoesNotContain("future", later);
        index.Remove("past-0");
        Assert.Equal(10, (await index.ListAsync(100)).Count);
    }
}
