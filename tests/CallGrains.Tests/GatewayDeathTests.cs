using System.Diagnostics;
using CallGrains.Abstractions;
using CallGrains.Grains;
using Microsoft.Extensions.DependencyInjection;
using Xunit.Abstractions;

namespace CallGrains.Tests;

/// <summary>
/// A gateway silo dies without a goodbye (kill -9, OOM, node loss): its users never unregister. They must still leave
/// their calls after the disconnect grace, and their peers must be told, even when nobody ever calls them again and
/// their user grains died with the silo. State and the indexes live in a real redis-server, as in production.
/// </summary>
public sealed class GatewayDeathTests(ITestOutputHelper output) : RedisClusterTest
{
    private const int GraceSeconds = 2;

    protected override void Configure(CallOptions options)
    {
        base.Configure(options);
        options.DisconnectGraceSeconds = GraceSeconds;
    }

    [Fact]
    public async Task Users_of_a_dead_gateway_leave_their_calls_after_the_grace_and_their_peers_are_told()
    {
        var kit = new CallTestKit(Cluster);
        var victim = Cluster.Silos[2];
        var victimGateway = victim.ServiceProvider.GetRequiredService<GatewayIdentity>().Id;

        // Pairs (a, b): a's socket is on the victim, b's on the first silo (where the probe stands in for the gateway).
        // Ongoing calls both ways, ringing calls both ways; and users already in their grace when the silo dies (their
        // socket closed politely a moment before), whose user grains followed their device onto the victim.
        var users = await kit.CreateUsersAsync(16);
        var pairs = Enumerable.Range(0, 8).Select(i => (A: users[2 * i], B: users[(2 * i) + 1])).ToArray();
        var probe = await kit.WatchAsync([.. pairs.Select(p => p.B)]);
        var epochs = new Dictionary<string, long>();
        foreach (var (a, _) in pairs)
        {
            var registration = await kit.User(a).RegisterDevice("dev", victimGateway, 0);
            Assert.Null(registration.Error);
            epochs[a] = registration.Epoch;
        }

        var calls = new List<(string SessionId, string A, string B, CallStatus Expected)>();
        for (var i = 0; i < pairs.Length; i++)
        {
            var (a, b) = pairs[i];
            switch (i % 4)
            {
                case 0:
                    calls.Add(((await kit.ConnectAsync(a, b)).SessionId, a, b, CallStatus.Ended));
                    break;
                case 1:
                    calls.Add(((await kit.ConnectAsync(b, a)).SessionId, a, b, CallStatus.Ended));
                    break;
                case 2:
                    calls.Add(((await kit.RingAsync(a, b)).SessionId, a, b, CallStatus.Cancelled));
                    break;
                default:
                    calls.Add(((await kit.RingAsync(b, a)).SessionId, a, b, CallStatus.Unanswered));
                    break;
            }
        }

        // The last two pairs' a closed its socket just now: in grace, its timer on the victim with the grain.
        foreach (var (a, _) in pairs[^2..])
        {
            await kit.User(a).UnregisterDevice("dev", victimGateway, epochs[a]);
        }

        var killed = Stopwatch.StartNew();
        await Cluster.KillSiloAsync(victim);

        // Nothing calls the users or the sessions from here: only the sweeps may bring them back.
        foreach (var (sessionId, a, b, expected) in calls)
        {
            await CallTestKit.EventuallyAsync(
                async () => (await kit.Session(sessionId).Peek())?.Status == expected,
                $"call {sessionId} between {a} (dead gateway) and {b} {expected}",
                timeoutMs: 90_000);
        }

        var settled = killed.Elapsed;
        foreach (var (_, _, b, _) in calls)
        {
            await CallTestKit.EventuallyAsync(
                () => Task.FromResult(probe.For(b).Any(IsFinalEvent)),
                $"{b} told their call is over",
                timeoutMs: 30_000);
        }

        output.WriteLine($"all calls settled {settled.TotalSeconds:F1} s after the kill, peers told by {killed.Elapsed.TotalSeconds:F1} s");
        await kit.AssertFreeAsync(users);
        foreach (var (a, _) in pairs)
        {
            Assert.Empty((await kit.SnapshotAsync(a)).Devices);
        }

        // The dead gateway's users are callable again.
        var caller = (await kit.CreateUsersAsync(1, "c"))[0];
        await kit.WatchAsync(caller);
        Assert.True((await kit.CallAsync(caller, pairs[0].A)).Ok);
        foreach (var b in pairs.Select(p => p.B))
        {
            AssertNumberedOnce(probe.For(b));
        }
    }

    private static bool IsFinalEvent(CallEvent e) =>
        e.Type is CallEventType.CallEndedMessageReceived or CallEventType.OutgoingCallRejected or CallEventType.IncomingCallCanceled;

    /// <summary>Each seq a device saw came with one event: redelivery repeats an event with its seq, never renumbers it.</summary>
    internal static void AssertNumberedOnce(IReadOnlyList<CallEvent> events)
    {
        foreach (var group in events.GroupBy(e => e.Seq))
        {
            Assert.Single(group.Select(e => (e.Type, e.Call?.SessionId, e.Call?.Status)).Distinct());
        }

        var seqs = events.Select(e => e.Seq).Distinct().Order().ToList();
        Assert.Equal(Enumerable.Range((int)seqs[0], seqs.Count).Select(s => (long)s), seqs);
    }
}
