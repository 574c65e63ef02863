using System.Globalization;
using StackExchange.Redis;

namespace CallGrains.Bench;

/// <summary>
/// Memory over time under constant load (docs/benchmarks.md, "Memory over time"): full cycles at a fixed rate for
/// several minutes, with the call log's retention shortened so that what is kept per call has to go away within the
/// run; resident memory of the hosts (and Redis's own accounting on the cluster) sampled every 30 s. Flat means every
/// sample after the warm-up within ±15 % of their mean.
/// </summary>
public static class Memory
{
    private static readonly TimeSpan Every = TimeSpan.FromSeconds(30);

    private sealed record Sample(TimeSpan At, long Cycles, long Failures, long Measured, string Detail);

    internal static async Task<int> RunAsync(Options options, bool cluster)
    {
        var minutes = options.Int("minutes", 10);
        var rate = options.Int("rate", 200);
        var pairs = options.Int("pairs", 64);
        var warmUp = TimeSpan.FromMinutes(options.Int("warmup-minutes", 2));
        var retention = options.Get("retention", "00:01:00");
        var key = "bench-admin-key-" + Guid.NewGuid().ToString("N");
        Console.WriteLine("building the host (Release)...");
        var dll = options.Get("host-dll", "") is { Length: > 0 } given ? given : ServerProcess.BuildHost();
        string[] settings = [$"--Calls:LogRetention={retention}"];
        Console.WriteLine($"machine: {Environment.ProcessorCount} cores; {(cluster ? "redis-server + 3 hosts" : "1 embedded host")}; {rate} cycles/s for {minutes} min; Calls:LogRetention={retention}");

        CallGrains.LocalCluster.Cluster? local = null;
        CallGrains.LocalCluster.HostProcess? single = null;
        ConnectionMultiplexer? redis = null;
        try
        {
            Uri[] urls;
            Func<Task<(long Measured, string Detail)>> measure;
            if (cluster)
            {
                local = await CallGrains.LocalCluster.Cluster.StartAsync(3, dll, key, [.. CallGrains.LocalCluster.LoadSettings.NoCallQuotas, .. settings]);
                redis = await ConnectionMultiplexer.ConnectAsync(local.Redis.ConnectionString + ",allowAdmin=true");
                urls = [.. local.Hosts.Select(h => h.Url)];
                var server = redis.GetServer(redis.GetEndPoints()[0]);
                var hosts = local.Hosts;
                measure = async () =>
                {
                    var info = (await server.InfoAsync("memory")).SelectMany(g => g).ToDictionary(p => p.Key, p => p.Value);
                    var used = long.Parse(info["used_memory"], CultureInfo.InvariantCulture);
                    var keys = await server.DatabaseSizeAsync();
                    var rss = string.Join(" / ", hosts.Select(h => Mib(ServerProcess.ReadRss(h.Pid))));
                    return (used, $"redis used_memory {Mib(used)} MiB, {keys} keys; hosts RSS {rss} MiB; host 1 {await RuntimeAsync(hosts[0].Url)}");
                };
            }
            else
            {
                single = await ServerProcess.StartAsync(dll, key, null, settings);
                urls = [single.Url];
                var pid = single.Pid;
                var metrics = single.Url;
                measure = async () =>
                {
                    var rss = ServerProcess.ReadRss(pid);
                    return (rss, $"host RSS {Mib(rss)} MiB; {await RuntimeAsync(metrics)}");
                };
            }

            var samples = new List<Sample>();
            var (before, beforeDetail) = await measure();
            samples.Add(new Sample(TimeSpan.Zero, 0, 0, before, beforeDetail));
            Console.WriteLine($"[   0 s] before load: {beforeDetail}");
            var next = Every;
            var result = await Cycles.RunAsync(urls, key, pairs, rate, minutes * 60, 0, "mem", progress: async (at, cycles, failures) =>
            {
                if (at < next)
                {
                    return;
                }

                next += Every;
                var (measured, detail) = await measure();
                samples.Add(new Sample(at, cycles, failures, measured, detail));
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"[{at.TotalSeconds,4:F0} s] {cycles} cycles, {failures} failures; {detail}"));
            });
            result.Print();
            return Report(samples, warmUp, cluster ? "Redis used_memory" : "host RSS");
        }
        finally
        {
            redis?.Dispose();
            if (local is not null)
            {
                await local.DisposeAsync();
            }

            if (single is not null)
            {
                await single.DisposeAsync();
            }
        }
    }

    private static int Report(List<Sample> samples, TimeSpan warmUp, string what)
    {
        Console.WriteLine();
        Console.WriteLine($"| s | cycles | failures | {what} MiB | detail |");
        Console.WriteLine("|---|---|---|---|---|");
        foreach (var s in samples)
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {s.At.TotalSeconds:F0} | {s.Cycles} | {s.Failures} | {Mib(s.Measured)} | {s.Detail} |"));
        }

        if (Verdict([.. samples.Select(s => (s.At, s.Measured))], warmUp) is not { } verdict)
        {
            Console.WriteLine("too few samples after the warm-up for a verdict");
            return 1;
        }

        var (mean, low, high, flat) = verdict;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{what} after {warmUp.TotalMinutes:F0} min: mean {mean / 1048576:F1} MiB, min {low:+0.0%;-0.0%}, max {high:+0.0%;-0.0%}: {(flat ? "FLAT (within ±15 %)" : "NOT FLAT")}"));
        Console.WriteLine(Plot(samples));
        return flat && samples[^1].Failures == 0 ? 0 : 1;
    }

    /// <summary>
    /// Whether the samples taken after <paramref name="warmUp"/> are flat: their mean, the lowest and highest relative to
    /// it, and whether both are within ±15 %. Null with fewer than two such samples.
    /// </summary>
    public static (double Mean, double Low, double High, bool Flat)? Verdict(IReadOnlyList<(TimeSpan At, long Measured)> samples, TimeSpan warmUp)
    {
        var steady = samples.Where(s => s.At >= warmUp).Select(s => (double)s.Measured).ToList();
        if (steady.Count < 2)
        {
            return null;
        }

        var mean = steady.Average();
        var (low, high) = ((steady.Min() / mean) - 1, (steady.Max() / mean) - 1);
        return (mean, low, high, low >= -0.15 && high <= 0.15);
    }

    /// <summary>
    /// What the host's own metrics say: the managed heap after the last collection (less the free space in it) and the
    /// grain directory cache, the two things that told a leak from the GC's saw-tooth while this was measured.
    /// </summary>
    private static async Task<string> RuntimeAsync(Uri host)
    {
        using var http = new HttpClient { BaseAddress = host, Timeout = TimeSpan.FromSeconds(5) };
        string text;
        try
        {
            text = await http.GetStringAsync("/metrics");
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
        {
            return "metrics unavailable";
        }

        double Sum(string name) => text.Split('\n')
            .Where(l => l.StartsWith(name + "{", StringComparison.Ordinal) || l.StartsWith(name + " ", StringComparison.Ordinal))
            .Sum(l => double.Parse(l[(l.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture));
        var heap = Sum("dotnet_gc_last_collection_heap_size_bytes") - Sum("dotnet_gc_last_collection_heap_fragmentation_size_bytes");
        return string.Create(CultureInfo.InvariantCulture, $"managed heap in use {heap / 1048576:F0} MiB, directory cache {Sum("orleans_directory_cache_size"):F0}");
    }

    /// <summary>A small text plot of the samples: one row per sample, a bar per MiB scaled to the largest.</summary>
    private static string Plot(List<Sample> samples)
    {
        var max = samples.Max(s => s.Measured);
        return string.Join(Environment.NewLine, samples.Select(s => string.Create(CultureInfo.InvariantCulture,
            $"{s.At.TotalSeconds,4:F0} s {Mib(s.Measured),7:F1} MiB {new string('#', (int)Math.Round(50.0 * s.Measured / max))}")));
    }

    private static double Mib(long bytes) => Math.Round(bytes / 1048576.0, 1);
}
