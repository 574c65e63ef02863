using System.Diagnostics;
using System.Globalization;
using CallGrains.Bench;

// callgrains-bench: full ring cycles and idle sockets against real CallGrains gateways over real sockets.
// Usage (see docs/benchmarks.md):
//   all                                   build and start servers, run every measurement, print the report
//   embedded                              only the single embedded host's cycles
//   (all, embedded, cluster, split: --server-env "K=V;.." sets environment variables for the servers, e.g. GC settings)
//   cluster [--silos 3] [--set K=V;..] [--sockets 0]   only the production-shaped cluster's cycles (redis-server + N
//                                         hosts); with --sockets, then idle sockets on its hosts (memory per host)
//   split [--silos 2] [--edges 2] [--set K=V;..] [--sockets 0]   the same on the split shape: edges hold the
//                                         sockets, silos the grains (issue 23); memory per socket per role;
//                                         --idle-only 1 --snapshot-pause S: only the idle sockets, paused for gcdumps
//   cycles --url U[,U..] --admin-key K [--pairs 64] [--rate 0] [--seconds 20] [--warmup 3]
//   idle   --url U[,U..] --admin-key K --pids P[,P..] [--sockets 20000] [--snapshot-pause 0]
//   (every idle run: --users-via socket|first: each socket's user made through its server, the default, or all
//                                         through the first: then user grains move on connect, counted as the sockets')
//   floor  [--sockets 15000]              the same idle sockets on a bare ASP.NET Core WebSocket server: .NET's floor
//   floor-cycles [--grains 0|1]           the embedded run's cycles on a bare ASP.NET Core server that only carries
//                                         the same messages (no grains): the floor under a cycle's server CPU; with
//                                         --grains 1 through no-op grains making a real cycle's grain calls
//   memory [--rate 200] [--minutes 10] [--retention 00:01:00]   memory of one embedded host under constant load
//   memory-cluster (same options)         Redis memory (and hosts' RSS) on redis-server + 3 hosts
//   log-pages [--sizes 10,1000,100000]    what a page of call history costs in Redis as the history grows
//   fan-out [--members 100] [--calls 200] initiateCall to the last member's incomingCallReceived, embedded and cluster
//   webhooks [--ring-calls 300]           1:1 ringing with no webhook endpoint, then with three (one hanging)
//   push [--members 100] [--calls 100] [--ring-calls 300] [--slow-ms 2000]   a sleeping group's ring pushes; 1:1 ringing with a slow provider
var command = args.Length > 0 ? args[0] : "all";
var options = Options.Parse(args.Skip(1).ToArray());
try
{
    return command switch
    {
        "all" => await Suite.RunAllAsync(options),
        "cluster" => await Suite.RunOneAsync(options, Suite.MeasureClusterAsync),
        "split" => await Suite.RunOneAsync(options, Suite.MeasureSplitAsync),
        "embedded" => await Suite.RunOneAsync(options, Suite.MeasureEmbeddedAsync),
        "memory" => await Memory.RunAsync(options, cluster: false),
        "memory-cluster" => await Memory.RunAsync(options, cluster: true),
        "log-pages" => await LogPages.RunAsync(options),
        "fan-out" => await FanOut.RunAsync(options),
        "push" => await PushBench.RunAsync(options),
        "webhooks" => await WebhookBench.RunAsync(options),
        "cycles" => (await Cycles.RunAsync(options.Urls, options.AdminKey, options.Int("pairs", 64), options.Int("rate", 0), options.Int("seconds", 20), options.Int("warmup", 3), "c")).Print(),
        "idle" => (await Idle.RunAsync(options.Urls, options.AdminKey, options.Int("sockets", 20000), [.. options.Get("pids", "").Split(',', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse)], TimeSpan.FromSeconds(options.Int("snapshot-pause", 0)), Suite.UsersViaFirst(options))).Print(),
        "floor" => await Floor.RunAsync(options),
        "floor-server" => await Floor.ServeAsync(options.Int("port", 5190)),
        "floor-cycles" => Suite.PrintTable(await FloorCycles.MeasureAsync(options)),
        "floor-cycles-server" => await FloorCycles.ServeAsync(options.Int("port", 5191), options.Int("grains", 0) == 1),
        "idle-worker" => await Idle.WorkerAsync(options.Urls, options.Get("tokens", ""), options.Int("from", 0), options.Int("count", 1000)),
        _ => Usage(),
    };
}
catch (Exception ex) when (ex is InvalidOperationException or ArgumentException or HttpRequestException)
{
    Console.Error.WriteLine($"callgrains-bench: {ex.Message}");
    return 2;
}

static int Usage()
{
    Console.Error.WriteLine("usage: callgrains-bench all | embedded | cluster [--silos N] [--sockets N] | split [--silos N] [--edges N] [--sockets N] | memory | memory-cluster [--rate R] [--minutes M] [--retention T] | log-pages [--sizes N,N] | fan-out [--members N] [--calls N] | push [--members N] [--calls N] [--ring-calls N] [--slow-ms MS] | webhooks [--ring-calls N] | cycles --url U --admin-key K [--pairs N] [--rate R] [--seconds S] | idle --url U --admin-key K --pids P [--sockets N] [--snapshot-pause S] | floor [--sockets N] | floor-cycles [--grains 0|1] [--rate R]");
    return 2;
}

internal sealed class Options(Dictionary<string, string> values)
{
    public Uri[] Urls => [.. Get("url", "http://127.0.0.1:5080").Split(',').Select(u => new Uri(u))];

    public string AdminKey => Get("admin-key", Environment.GetEnvironmentVariable("CALLGRAINS_ADMIN_KEY") ?? "");

    public string Get(string name, string fallback) => values.TryGetValue(name, out var v) ? v : fallback;

    public int Int(string name, int fallback) => values.TryGetValue(name, out var v) ? int.Parse(v, CultureInfo.InvariantCulture) : fallback;

    public static Options Parse(string[] args)
    {
        var values = new Dictionary<string, string>();
        for (var i = 0; i < args.Length; i++)
        {
            if (!args[i].StartsWith("--", StringComparison.Ordinal) || i + 1 >= args.Length)
            {
                throw new ArgumentException($"unexpected argument '{args[i]}'");
            }

            values[args[i][2..]] = args[++i];
        }

        return new Options(values);
    }
}

/// <summary>The one-command run behind docs/benchmarks.md.</summary>
internal static class Suite
{
    /// <summary>A warm-up pass (unmeasured: tier-0 JIT, first activations), then as fast as possible, then paced.</summary>
    public static async Task<string[]> MeasureAsync(Uri[] urls, string key, Options options, string label, IReadOnlyList<Watched> watched, RedisCommands? redis = null)
    {
        var rate = options.Int("rate", 500);
        var seconds = options.Int("seconds", 60);
        var maxPairs = options.Int("max-pairs", 200);
        await WarmUpAsync(urls, key, maxPairs, options.Int("warmup-windows", 9));
        var max = await Cycles.RunAsync(urls, key, maxPairs, 0, seconds, 3, "max", watched, redis: redis);
        max.Print();
        var paced = await Cycles.RunAsync(urls, key, options.Int("pairs", 64), rate, seconds, 3, $"r{rate}", watched, redis: redis);
        paced.Print();
        return [max.Row($"{label}, as fast as possible"), paced.Row($"{label}, paced at {rate}/s")];
    }

    /// <summary>
    /// Unmeasured load in 10 s windows (9 by default: 90 s), each window's rate printed. Tiered JIT with dynamic PGO
    /// keeps recompiling hot code for a minute or more under load, more so in a cluster, where the Redis client and
    /// silo-to-silo messaging add hot paths: measured here, the rate rises for about 60 s and then varies by about
    /// ±20% from window to window (GC, Redis rewriting its append-only file, five processes sharing two cores).
    /// </summary>
    private static async Task WarmUpAsync(Uri[] urls, string key, int pairs, int windows)
    {
        var rates = new List<double>();
        for (var i = 1; i <= windows; i++)
        {
            rates.Add((await Cycles.RunAsync(urls, key, pairs, 0, 10, 0, $"w{i}")).PerSecond);
        }

        Console.WriteLine($"warm-up cycles/s per 10 s window: {string.Join(", ", rates.Select(r => r.ToString("F0", CultureInfo.InvariantCulture)))}");
    }

    /// <summary>
    /// The production shape: redis-server and N hosts with Redis membership, state and reminders; every pair's
    /// caller and callee on different gateways.
    /// </summary>
    public static async Task<string[]> MeasureClusterAsync(string dll, string key, Options options)
    {
        var silos = options.Int("silos", 3);
        await using var cluster = await CallGrains.LocalCluster.Cluster.StartAsync(silos, dll, key, ClusterSettings(options));
        Console.WriteLine($"cluster: redis-server pid {cluster.Redis.Pid}, hosts {string.Join(", ", cluster.Hosts.Select(h => h.Pid))}");
        Watched[] watched = [.. cluster.Hosts.Select((h, i) => new Watched($"host{i + 1}", h.Pid)), new Watched("redis", cluster.Redis.Pid)];
        return await MeasureThenIdleAsync(cluster, key, options, $"{silos} processes + Redis, cross-gateway", watched);
    }

    /// <summary>
    /// The split shape (issue 23): redis-server, grains-only silos and edge gateways; every pair's caller and callee
    /// on different edges. CPU per cycle is printed per role.
    /// </summary>
    public static async Task<string[]> MeasureSplitAsync(string dll, string key, Options options)
    {
        var silos = options.Int("silos", 2);
        var edges = options.Int("edges", 2);
        await using var cluster = await CallGrains.LocalCluster.Cluster.StartSplitAsync(silos, edges, dll, key, ClusterSettings(options));
        Console.WriteLine($"split cluster: redis-server pid {cluster.Redis.Pid}, edges {string.Join(", ", cluster.Hosts.Select(h => h.Pid))}, silos {string.Join(", ", cluster.Silos.Select(h => h.Pid))}");
        Watched[] watched = [.. cluster.Hosts.Select((h, i) => new Watched($"edge{i + 1}", h.Pid)), .. cluster.Silos.Select((h, i) => new Watched($"silo{i + 1}", h.Pid)), new Watched("redis", cluster.Redis.Pid)];
        return await MeasureThenIdleAsync(cluster, key, options, $"{edges} edges + {silos} silos + Redis, cross-edge", watched);
    }

    // --set "Calls:PresenceCheckSeconds=5;..." passes settings to every host, to measure what they cost.
    private static string[] ClusterSettings(Options options) =>
        [.. CallGrains.LocalCluster.LoadSettings.NoCallQuotas, .. options.Get("set", "").Split(';', StringSplitOptions.RemoveEmptyEntries).Select(s => $"--{s}")];

    /// <summary>The cycles, then (with --sockets N) N idle sockets on the nodes clients connect to, memory per process.</summary>
    private static async Task<string[]> MeasureThenIdleAsync(CallGrains.LocalCluster.Cluster cluster, string key, Options options, string label, Watched[] watched)
    {
        // --idle-only 1 skips the cycles (for a heap snapshot of the idle sockets alone: --snapshot-pause S).
        var rows = options.Int("idle-only", 0) == 1 ? [] : await MeasureAsync([.. cluster.Hosts.Select(h => h.Url)], key, options, label, watched, new RedisCommands(cluster.Redis.Port));
        var sockets = options.Int("sockets", 0);
        if (sockets == 0)
        {
            return rows;
        }

        // Redis is not counted: what a socket costs there (the device entry in the user's state) is in its own row.
        var nodes = watched.Where(w => w.Name != "redis").ToList();
        Console.WriteLine($"idle: {sockets} sockets on {string.Join(", ", nodes.Select(n => $"{n.Name} pid {n.Pid}"))}");
        var idle = await Idle.RunAsync([.. cluster.Hosts.Select(h => h.Url)], key, sockets, [.. nodes.Select(n => n.Pid)], TimeSpan.FromSeconds(options.Int("snapshot-pause", 0)), UsersViaFirst(options));
        idle.Print();
        for (var i = 0; i < nodes.Count; i++)
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {nodes[i].Name}: RSS +{idle.DeltaPerProcess[i] / 1024.0 / 1024:F1} MiB = {idle.DeltaPerProcess[i] / 1024.0 / idle.Sockets:F2} KiB per socket of the cluster"));
        }

        return rows;
    }

    public static int PrintTable(IEnumerable<string> rows)
    {
        Console.WriteLine();
        Console.WriteLine("| run | cycles/s | failures | setup p50 ms | p90 ms | p99 ms | max ms |");
        Console.WriteLine("|---|---|---|---|---|---|---|");
        foreach (var row in rows)
        {
            Console.WriteLine(row);
        }

        return 0;
    }

    public static async Task<string[]> MeasureEmbeddedAsync(string dll, string key, Options options)
    {
        await using var server = await ServerProcess.StartAsync(dll, key, null);
        Console.WriteLine($"embedded server pid {server.Pid} at {server.Url}");
        return await MeasureAsync([server.Url], key, options, "1 process (embedded, in memory)", [new Watched("host", server.Pid)]);
    }

    /// <summary><c>--users-via first</c>: the idle sockets' users made through the first server (<see cref="Idle.RunAsync"/>).</summary>
    public static bool UsersViaFirst(Options options) => options.Get("users-via", "socket") switch
    {
        "socket" => false,
        "first" => true,
        var other => throw new ArgumentException($"--users-via is socket or first, not {other}"),
    };

    /// <summary>
    /// --server-env "K=V;K2=V2" sets environment variables for every server the bench starts (they inherit this
    /// process's environment; this process's own runtime has read its settings already), e.g. a GC setting.
    /// </summary>
    public static void ApplyServerEnvironment(Options options)
    {
        foreach (var pair in options.Get("server-env", "").Split(';', StringSplitOptions.RemoveEmptyEntries))
        {
            var (name, value) = pair.IndexOf('=', StringComparison.Ordinal) is > 0 and var at ? (pair[..at], pair[(at + 1)..]) : throw new ArgumentException($"--server-env wants K=V, not '{pair}'");
            Environment.SetEnvironmentVariable(name, value);
            Console.WriteLine($"servers run with {name}={value}");
        }
    }

    public static async Task<int> RunOneAsync(Options options, Func<string, string, Options, Task<string[]>> measure)
    {
        ApplyServerEnvironment(options);
        var key = "bench-admin-key-" + Guid.NewGuid().ToString("N");
        Console.WriteLine("building the host (Release)...");
        var dll = ServerProcess.BuildHost();
        return PrintTable(await measure(dll, key, options));
    }

    public static async Task<int> RunAllAsync(Options options)
    {
        ApplyServerEnvironment(options);
        var key = "bench-admin-key-" + Guid.NewGuid().ToString("N");
        Console.WriteLine("building the host (Release)...");
        var dll = ServerProcess.BuildHost();
        Console.WriteLine($"machine: {Environment.ProcessorCount} cores, .NET {Environment.Version}, bench and servers on this machine");

        var results = new List<string>();
        results.AddRange(await MeasureEmbeddedAsync(dll, key, options));
        results.AddRange(await MeasureClusterAsync(dll, key, options));
        results.AddRange(await FloorCycles.MeasureAsync(options, grains: false));
        results.AddRange(await FloorCycles.MeasureAsync(options, grains: true));

        // A process may hold at most 20,000 descriptors here (the hard limit cannot be raised), so 20,000 idle
        // sockets are held by a cluster of two gateways, 10,000 each.
        var sockets = options.Int("sockets", 20000);
        await using var first = await ServerProcess.StartAsync(dll, key, null);
        await using var second = await ServerProcess.StartAsync(dll, key, first.SiloPort);
        await Task.Delay(3000);
        var idle = await Idle.RunAsync([first.Url, second.Url], key, sockets, [first.Pid, second.Pid], usersViaFirst: UsersViaFirst(options));
        idle.Print();

        PrintTable(results);
        Console.WriteLine();
        Console.WriteLine($"idle: {idle.Sockets} sockets on {idle.Servers} gateways, server memory +{idle.DeltaBytes / 1024 / 1024} MiB, {idle.BytesPerSocket / 1024.0:F1} KiB per socket");
        return 0;
    }
}

internal static class Progress
{
    private static readonly bool Redirected = Console.IsOutputRedirected;

    public static void Line(string text, bool final = false)
    {
        if (Redirected)
        {
            Console.WriteLine(text);
        }
        else
        {
            Console.Write($"\r{text,-100}");
            if (final)
            {
                Console.WriteLine();
            }
        }
    }

    public static double Ms(long ticks) => ticks * 1000.0 / Stopwatch.Frequency;
}
