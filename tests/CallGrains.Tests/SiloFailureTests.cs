using CallGrains.Abstractions;
using CallGrains.Grains;
using CallGrains.Host;
using CallGrains.LocalCluster;
using Microsoft.Extensions.DependencyInjection;
using Orleans.TestingHost;

namespace CallGrains.Tests;

/// <summary>
/// Calls outlive the silo that holds them. Memory storage and memory reminders live in the silos and die with
/// them, so this cluster keeps grain state and reminders in a real redis-server, as production does.
/// </summary>
public sealed class SiloFailureTests : IAsyncLifetime
{
    private const int Calls = 8;
    private const int TimeoutSeconds = 5;

    private RedisProcess _redis = null!;
    private InProcessTestCluster _cluster = null!;

    public async Task InitializeAsync()
    {
        _redis = await RedisProcess.StartAsync();
        var builder = new InProcessTestClusterBuilder(3);
        builder.ConfigureSilo((_, silo) =>
        {
            silo.AddCallGrainsRedisStorage(_redis.ConnectionString);
            silo.AddCallGrains();
            silo.Services.PostConfigure<CallOptions>(o =>
            {
                // Only the session may free its parties here, not the stale-slot fallback.
                o.StaleRingSlackSeconds = 3600;
            });
        });
        _cluster = builder.Build();
        await _cluster.DeployAsync();
    }

    public async Task DisposeAsync()
    {
        await _cluster.StopAllSilosAsync();
        await _cluster.DisposeAsync();
        await _redis.DisposeAsync();
    }

    [Fact]
    public async Task A_ringing_call_still_times_out_after_its_silo_is_killed()
    {
        var kit = new CallTestKit(_cluster);
        var users = await kit.CreateUsersAsync(Calls * 2);
        var calls = new List<CallInfo>();
        for (var i = 0; i < Calls; i++)
        {
            calls.Add(await kit.RingAsync(users[2 * i], users[(2 * i) + 1], TimeoutSeconds));
        }

        // Kill a secondary silo that holds at least one of the ringing calls.
        var management = _cluster.Client.GetGrain<IManagementGrain>(0);
        var stats = await management.GetDetailedGrainStatistics();
        var sessionIds = calls.Select(c => c.SessionId).ToHashSet();
        var primary = _cluster.Silos[0].SiloAddress;
        var victim = stats.Where(s => sessionIds.Contains(s.GrainId.Key.ToString()!) && !s.SiloAddress.Equals(primary))
            .Select(s => s.SiloAddress).First();
        var onVictim = stats.Where(s => s.SiloAddress.Equals(victim) && sessionIds.Contains(s.GrainId.Key.ToString()!))
            .Select(s => s.GrainId.Key.ToString()!).ToList();
        Assert.NotEmpty(onVictim);
        await _cluster.KillSiloAsync(_cluster.Silos.Single(s => s.SiloAddress.Equals(victim)));

        // Nothing touches the session grains now: a request would reactivate them and re-arm their timers, and the
        // point is that the reminder alone brings them back. The parties are freed only by their call timing out.
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
}
