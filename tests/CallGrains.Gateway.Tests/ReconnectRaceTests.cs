using System.Diagnostics;

namespace CallGrains.Gateway.Tests;

/// <summary>
/// A device that connects while its user is being called gets every event after its welcome: the user grain publishes
/// to the device's gateway from the moment the device registers, before its socket is open there.
/// </summary>
[Collection(TwoNodeGroup.Name)]
public sealed class ReconnectRaceTests(TwoNodeFixture cluster)
{
    private const int Reconnects = 100;
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(90);

    [Fact]
    public async Task A_device_reconnecting_while_it_is_called_again_and_again_misses_no_event_after_its_welcome()
    {
        var users = await cluster.Admin.UsersAsync(5);
        var callee = users[0];
        var callers = new List<WsClient>();
        foreach (var caller in users.Skip(1))
        {
            callers.Add(await WsClient.ConnectAsync(cluster.A, caller.Uid, caller.Token));
        }

        using var stop = new CancellationTokenSource(Limit);
        var clock = Stopwatch.StartNew();
        var ringing = callers.Select(c => Task.Run(() => RingAndCancelAsync(c, callee.Uid, stop.Token))).ToList();

        // The same device, as a phone that keeps losing its network: it drops its socket and opens another, on one
        // gateway then the other.
        var sockets = new List<WsClient>();
        var random = new Random(20261204);
        try
        {
            for (var i = 0; i < Reconnects && clock.Elapsed < Limit; i++)
            {
                if (i > 0)
                {
                    await sockets[^1].DisposeAsync();
                }

                sockets.Add(await WsClient.ConnectAsync(cluster.Node(i % 2 == 1), callee.Uid, callee.Token, "phone"));
                await Task.Delay(random.Next(5, 60));
            }
        }
        finally
        {
            await stop.CancelAsync();
            await Task.WhenAll(ringing);
        }

        // The last socket stays open: once the calls have stopped, it has seen every event up to the user's seq.
        var last = sockets[^1];
        var final = (await last.RequestAsync("sync")).Seq();
        await Eventually(() => SeqsAfterWelcome(last).LastOrDefault(last.Welcome.Seq()) >= final, TimeSpan.FromSeconds(30));

        var events = sockets.Sum(s => SeqsAfterWelcome(s).Count);
        Assert.True(events >= Reconnects, $"the callers made {events} events on {sockets.Count} sockets: too few to test the race");
        var holes = sockets.Select((s, i) => (i, Welcome: s.Welcome.Seq(), Seqs: SeqsAfterWelcome(s)))
            .Where(s => !s.Seqs.SequenceEqual(Enumerable.Range(0, s.Seqs.Count).Select(n => s.Welcome + 1 + n)))
            .Select(s => $"socket {s.i}: welcome {s.Welcome}, then {string.Join(",", s.Seqs)}")
            .ToList();
        Assert.True(holes.Count == 0, $"events missed after a welcome (each socket must see welcome+1, welcome+2, ... until it is closed):\n{string.Join("\n", holes)}");

        foreach (var client in callers.Append(last))
        {
            await client.DisposeAsync();
        }
    }

    private static List<long> SeqsAfterWelcome(WsClient socket) =>
        [.. socket.Log.Where(m => m.Event is not null and not "welcome" and not "signal" && m.Seq is not null).Select(m => m.Seq!.Value)];

    /// <summary>Rings the callee and cancels, over and over: two numbered events on the callee each time.</summary>
    private static async Task RingAndCancelAsync(WsClient caller, string callee, CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            var call = await caller.CallAsync(callee);
            if (call.IsOk())
            {
                await caller.RequestAsync("rejectCall", new { sessionId = call.SessionId(), status = "cancelled" });
            }
            else
            {
                await Task.Delay(20, CancellationToken.None);
            }
        }
    }

    private static async Task Eventually(Func<bool> condition, TimeSpan within)
    {
        var deadline = Stopwatch.StartNew();
        while (!condition() && deadline.Elapsed < within)
        {
            await Task.Delay(50);
        }
    }
}
