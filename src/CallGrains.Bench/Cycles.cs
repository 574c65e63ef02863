using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using CallGrains.Client;
using CallGrains.Client.Protocol;
using HdrHistogram;

namespace CallGrains.Bench;

public sealed record CycleResult(string Name, int Pairs, int Rate, double Seconds, long Cycles, long Failures, double P50, double P90, double P99, double Max)
{
    /// <summary>CPU per measured cycle of each watched process (empty when none were watched).</summary>
    public string Cpu { get; init; } = "";

    /// <summary>Redis commands per measured cycle (empty without a Redis to watch).</summary>
    public string Redis { get; init; } = "";

    /// <summary>When the cycle with the slowest setup ended, in seconds from the start of the measured window.</summary>
    public double MaxAt { get; init; }

    public double PerSecond => Cycles / Seconds;

    public int Print()
    {
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{Name}: {Cycles} cycles in {Seconds:F1} s = {PerSecond:F0}/s, {Failures} failures; setup latency ms p50 {P50:F2} p90 {P90:F2} p99 {P99:F2} max {Max:F2} (at {MaxAt:F1} s; {Pairs} pairs, rate {(Rate == 0 ? "max" : Rate.ToString(CultureInfo.InvariantCulture))})"));
        if (Cpu.Length > 0)
        {
            Console.WriteLine($"  {Cpu}");
        }

        if (Redis.Length > 0)
        {
            Console.WriteLine($"  {Redis}");
        }

        return Failures == 0 ? 0 : 1;
    }

    public string Row(string label) => string.Create(CultureInfo.InvariantCulture,
        $"| {label} | {PerSecond:F0} | {Failures} | {P50:F2} | {P90:F2} | {P99:F2} | {Max:F2} |");
}

/// <summary>
/// Full ring cycles over real sockets: initiate, incoming, accept, accepted, end, ended. Setup latency is from the
/// moment initiateCall is sent to the moment the callee's socket has read incomingCallReceived.
/// </summary>
public static class Cycles
{
    private static readonly TimeSpan StepTimeout = TimeSpan.FromSeconds(10);

    /// <summary>
    /// A caller sends two requests per cycle; at most 20 cycles a second per pair keeps every connection under the
    /// default per-connection limit (50 messages/s), so "as fast as possible" measures the server, not the limiter.
    /// </summary>
    private const double MaxCyclesPerPairPerSecond = 20;

    /// <param name="progress">Called about once a second with the time since the start, the measured cycles and failures so far.</param>
    public static async Task<CycleResult> RunAsync(
        Uri[] urls,
        string adminKey,
        int pairs,
        int rate,
        int seconds,
        int warmup,
        string tag,
        IReadOnlyList<Watched>? watched = null,
        Func<TimeSpan, long, long, Task>? progress = null,
        RedisCommands? redis = null)
    {
        watched = [.. watched ?? [], new Watched("bench", Environment.ProcessId)];
        using var admin = new BenchAdmin(urls[0], adminKey);
        var run = Guid.NewGuid().ToString("N")[..6];
        var users = await admin.CreateUsersAsync($"b{tag}{run}-", pairs * 2);
        var clients = new List<Pair>();
        for (var i = 0; i < pairs; i++)
        {
            // With several gateways the caller and the callee of a pair sit on different ones.
            var caller = await BenchSocket.ConnectAsync(urls[i % urls.Length], users[2 * i].Token);
            var callee = await BenchSocket.ConnectAsync(urls[(i + 1) % urls.Length], users[(2 * i) + 1].Token);
            clients.Add(new Pair(caller, callee, users[(2 * i) + 1].Uid));
        }

        var histogram = new LongHistogram(TimeStamp.Seconds(60), 3);
        var gate = new Lock();
        long cycles = 0, failures = 0, slot = 0, slowest = 0, maxAt = 0;
        var started = Stopwatch.GetTimestamp();
        var end = started + (long)((warmup + seconds) * (double)Stopwatch.Frequency);
        var measureFrom = started + (long)(warmup * (double)Stopwatch.Frequency);

        async Task PairLoop(Pair pair)
        {
            var nextStart = Stopwatch.GetTimestamp();
            while (true)
            {
                var pairWait = nextStart - Stopwatch.GetTimestamp();
                if (pairWait > 0)
                {
                    await Task.Delay(TimeSpan.FromSeconds(pairWait / (double)Stopwatch.Frequency));
                }

                nextStart = Stopwatch.GetTimestamp() + (long)(Stopwatch.Frequency / MaxCyclesPerPairPerSecond);
                if (rate > 0)
                {
                    var due = started + (long)(Interlocked.Increment(ref slot) * (double)Stopwatch.Frequency / rate);
                    var wait = due - Stopwatch.GetTimestamp();
                    if (wait > 0)
                    {
                        await Task.Delay(TimeSpan.FromSeconds(wait / (double)Stopwatch.Frequency));
                    }
                }

                if (Stopwatch.GetTimestamp() >= end)
                {
                    return;
                }

                // Cycles that start after the warm-up are the measured ones.
                var counted = Stopwatch.GetTimestamp() >= measureFrom;
                try
                {
                    var latency = await CycleAsync(pair);
                    if (counted)
                    {
                        Interlocked.Increment(ref cycles);
                        lock (gate)
                        {
                            if (latency > histogram.GetMaxValue())
                            {
                                maxAt = Stopwatch.GetTimestamp();
                            }

                            histogram.RecordValue(latency);
                            slowest = Math.Max(slowest, latency);
                        }
                    }
                }
                catch (Exception ex) when (ex is InvalidOperationException or CallGrainsException or TimeoutException)
                {
                    if (counted)
                    {
                        Interlocked.Increment(ref failures);
                    }

                    if (Interlocked.Read(ref failures) <= 3)
                    {
                        Console.Error.WriteLine($"cycle failed: {ex.Message}");
                    }

                    // A failed cycle may leave the pair mid-call; back off and let ring timeouts and errors settle.
                    await Task.Delay(200);
                }
            }
        }

        var loops = clients.Select(p => Task.Run(() => PairLoop(p))).ToArray();
        var cpuFrom = Task.Run(async () =>
        {
            await Task.Delay(TimeSpan.FromSeconds(Math.Max(0, measureFrom - Stopwatch.GetTimestamp()) / (double)Stopwatch.Frequency));
            return (Cpu: CpuTime.Sample(watched), Redis: redis is null ? null : await redis.SampleAsync());
        });
        var lastCycles = 0L;
        while (!Task.WhenAll(loops).IsCompleted)
        {
            await Task.WhenAny(Task.WhenAll(loops), Task.Delay(1000));
            var now = Stopwatch.GetTimestamp();
            var done = Interlocked.Read(ref cycles);
            double p99, secondMax;
            lock (gate)
            {
                p99 = histogram.TotalCount > 0 ? histogram.GetValueAtPercentile(99) * 1000.0 / Stopwatch.Frequency : 0;

                // The slowest setup since the last line: when a stall happened, not only that one did.
                secondMax = slowest * 1000.0 / Stopwatch.Frequency;
                slowest = 0;
            }

            Progress.Line(string.Create(CultureInfo.InvariantCulture,
                $"[{tag} {(now - started) / (double)Stopwatch.Frequency,5:F0}s] cycles {done} ({done - lastCycles}/s now) failures {Interlocked.Read(ref failures)} setup p99 {p99:F2} ms, slowest since the last line {secondMax:F1} ms"));
            lastCycles = done;
            if (progress is not null)
            {
                await progress(TimeSpan.FromSeconds((now - started) / (double)Stopwatch.Frequency), done, Interlocked.Read(ref failures));
            }
        }

        Progress.Line("", final: true);
        var cpuTo = CpuTime.Sample(watched);
        var redisTo = redis is null ? null : await redis.SampleAsync();
        var from = await cpuFrom;
        var cpu = CpuTime.PerCycle(watched, from.Cpu, cpuTo, Interlocked.Read(ref cycles));
        var commands = from.Redis is { } redisFrom && redisTo is not null ? RedisCommands.PerCycle(redisFrom, redisTo, Interlocked.Read(ref cycles)) : "";
        var elapsed = (Math.Max(Stopwatch.GetTimestamp(), end) - measureFrom) / (double)Stopwatch.Frequency;
        foreach (var (caller, callee, _) in clients)
        {
            await caller.DisposeAsync();
            await callee.DisposeAsync();
        }

        double At(double percentile) => histogram.TotalCount == 0 ? 0 : histogram.GetValueAtPercentile(percentile) * 1000.0 / Stopwatch.Frequency;
        return new CycleResult(tag, pairs, rate, elapsed, cycles, failures, At(50), At(90), At(99), histogram.TotalCount == 0 ? 0 : histogram.GetMaxValue() * 1000.0 / Stopwatch.Frequency) { Cpu = cpu, Redis = commands, MaxAt = maxAt == 0 ? 0 : (maxAt - measureFrom) / (double)Stopwatch.Frequency };
    }

    /// <summary>One full cycle; returns the setup latency in Stopwatch ticks.</summary>
    private static async Task<long> CycleAsync(Pair pair)
    {
        var (caller, callee) = (pair.Caller, pair.Callee);
        var incoming = callee.WaitForEventAsync("incomingCallReceived");
        var accepted = caller.WaitForEventAsync("outgoingCallAccepted");
        var ended = callee.WaitForEventAsync("callEndedMessageReceived");
        var sent = Stopwatch.GetTimestamp();
        var initiated = (await caller.RequestAsync("initiateCall", new JsonObject { ["receiverId"] = pair.CalleeUid, ["receiverType"] = "user", ["callType"] = "audio" }).WaitAsync(StepTimeout)).Ensure("initiateCall");
        var rang = (await incoming.WaitAsync(StepTimeout)).Timestamp;
        var sessionId = initiated.SessionId;
        (await callee.RequestAsync("acceptCall", new JsonObject { ["sessionId"] = sessionId }).WaitAsync(StepTimeout)).Ensure("acceptCall");
        await accepted.WaitAsync(StepTimeout);
        (await caller.RequestAsync("endCall", new JsonObject { ["sessionId"] = sessionId }).WaitAsync(StepTimeout)).Ensure("endCall");
        await ended.WaitAsync(StepTimeout);
        return rang - sent;
    }

    private sealed record Pair(ProtocolConnection Caller, ProtocolConnection Callee, string CalleeUid);
}
