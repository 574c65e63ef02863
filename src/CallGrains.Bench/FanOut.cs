using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using CallGrains.Client.Protocol;
using HdrHistogram;

namespace CallGrains.Bench;

/// <summary>
/// Ringing a group (docs/benchmarks.md, "Ringing a group"): the time from sending <c>initiateCall</c> for a group of
/// N to the last member's <c>incomingCallReceived</c>, over real sockets, one call at a time (each cancelled and its
/// cancellations received before the next), members spread over every gateway.
/// </summary>
public static class FanOut
{
    internal static async Task<int> RunAsync(Options options)
    {
        var size = options.Int("members", 100);
        var calls = options.Int("calls", 200);
        var warmup = options.Int("warmup-calls", 20);
        var gap = options.Int("gap-ms", 0);
        var key = "bench-admin-key-" + Guid.NewGuid().ToString("N");
        Console.WriteLine("building the host (Release)...");
        var dll = options.Get("host-dll", "") is { Length: > 0 } given ? given : ServerProcess.BuildHost();
        Console.WriteLine($"machine: {Environment.ProcessorCount} cores; group of {size} + the caller; {calls} calls after {warmup} unmeasured");
        var rows = new List<string>();

        // The caller places a call and cancels it every few tens of milliseconds, beyond the per-connection limit a
        // person's client needs (Gateway:MessagesPerSecond, 50): raised here so the bench measures ringing, not refusals.
        string[] limits = ["--Gateway:MessagesPerSecond=10000", "--Gateway:MessageBurst=10000"];
        await using (var single = await ServerProcess.StartAsync(dll, key, null, limits))
        {
            rows.Add(await MeasureAsync("embedded (1 host)", [single.Url], key, size, calls, warmup, gap));
        }

        if (options.Get("setups", "embedded,cluster").Contains("cluster", StringComparison.Ordinal))
        {
            await using var cluster = await CallGrains.LocalCluster.Cluster.StartAsync(3, dll, key, [.. CallGrains.LocalCluster.LoadSettings.NoCallQuotas, .. limits]);
            rows.Add(await MeasureAsync("cluster (redis-server + 3 hosts)", [.. cluster.Hosts.Select(h => h.Url)], key, size, calls, warmup, gap));
        }

        Console.WriteLine();
        Console.WriteLine("| setup | calls | initiate answered p50 / p99 ms | last member rung p50 / p99 / max ms |");
        Console.WriteLine("|---|---|---|---|");
        rows.ForEach(Console.WriteLine);
        return 0;
    }

    /// <summary>One setup's row of the table; the servers at <paramref name="urls"/> are already running.</summary>
    public static async Task<string> MeasureAsync(string label, Uri[] urls, string key, int size, int calls, int warmup, int gapMs = 0)
    {
        using var admin = new BenchAdmin(urls[0], key);
        var run = Guid.NewGuid().ToString("N")[..6];
        var users = await admin.CreateUsersAsync($"f{run}-", size + 1);
        var guid = $"fan-{run}";
        await admin.CreateGroupAsync(guid, users.Select(u => u.Uid));
        var clients = new ProtocolConnection[users.Length];
        for (var i = 0; i < users.Length; i++)
        {
            clients[i] = await BenchSocket.ConnectAsync(urls[i % urls.Length], users[i].Token);
        }

        var answered = new LongHistogram(TimeStamp.Minutes(1), 3);
        var rung = new LongHistogram(TimeStamp.Minutes(1), 3);
        try
        {
            var caller = clients[0];
            var members = clients[1..];
            for (var n = 0; n < warmup + calls; n++)
            {
                var incoming = members.Select(m => m.WaitForEventAsync("incomingCallReceived")).ToList();
                var started = Stopwatch.GetTimestamp();
                var response = await caller.RequestAsync("initiateCall", new JsonObject { ["receiverId"] = guid, ["receiverType"] = "group", ["callType"] = "audio" });
                if (!response.Ok)
                {
                    throw new InvalidOperationException($"{label}: initiateCall failed: {response.ErrorCode}");
                }

                var last = (await Task.WhenAll(incoming).WaitAsync(TimeSpan.FromSeconds(30))).Max(m => m.Timestamp);
                if (n >= warmup)
                {
                    answered.RecordValue(response.Timestamp - started);
                    rung.RecordValue(last - started);
                }

                var canceled = members.Select(m => m.WaitForEventAsync("incomingCallCanceled", response.SessionId)).ToList();
                var cancel = await caller.RequestAsync("rejectCall", new JsonObject { ["sessionId"] = response.SessionId, ["status"] = "cancelled" });
                if (!cancel.Ok)
                {
                    throw new InvalidOperationException($"{label}: cancel failed: {cancel.ErrorCode}");
                }

                await Task.WhenAll(canceled).WaitAsync(TimeSpan.FromSeconds(30));
                if (gapMs > 0)
                {
                    // Lets the settled call's background work (history for every member) finish before the next ring.
                    await Task.Delay(gapMs);
                }
                if ((n + 1) % 50 == 0)
                {
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"[{label}] {n + 1} of {warmup + calls} calls"));
                }
            }
        }
        finally
        {
            foreach (var client in clients)
            {
                await client.DisposeAsync();
            }
        }

        static string Ms(LongHistogram h, double percentile) =>
            (h.GetValueAtPercentile(percentile) * 1000.0 / Stopwatch.Frequency).ToString("F2", CultureInfo.InvariantCulture);

        return $"| {label} | {calls} | {Ms(answered, 50)} / {Ms(answered, 99)} | {Ms(rung, 50)} / {Ms(rung, 99)} / {Ms(rung, 100)} |";
    }
}
