using System.Diagnostics;
using System.Globalization;

namespace CallGrains.Bench;

public sealed record IdleResult(int Sockets, int Servers, long DeltaBytes)
{
    public double BytesPerSocket => Sockets == 0 ? 0 : DeltaBytes / (double)Sockets;

    public int Print()
    {
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"idle: {Sockets} authenticated sockets on {Servers} gateway(s): server RSS +{DeltaBytes / 1024.0 / 1024:F1} MiB = {BytesPerSocket / 1024:F1} KiB per socket"));
        return 0;
    }
}

/// <summary>
/// Holds many idle authenticated sockets and reports what they cost the servers: the growth of the servers'
/// resident memory divided by the number of sockets. The sockets are held by worker processes (at most
/// <see cref="PerWorker"/> each), since one process may hold only so many descriptors.
/// </summary>
public static class Idle
{
    private const int PerWorker = 7000;

    public static async Task<IdleResult> RunAsync(Uri[] urls, string adminKey, int sockets, int[] pids)
    {
        var prefix = $"idle{Guid.NewGuid().ToString("N")[..6]}-";
        using (var admin = new BenchAdmin(urls[0], adminKey))
        {
            Progress.Line($"creating {sockets} users...");
            await admin.CreateUsersAsync(prefix, sockets);
        }

        // Let the servers settle after creating users, then take the baseline.
        await Task.Delay(3000);
        var before = pids.Sum(ServerProcess.ReadRss);
        var workers = new List<Process>();
        try
        {
            for (var from = 0; from < sockets; from += PerWorker)
            {
                workers.Add(StartWorker(urls, adminKey, prefix, from, Math.Min(PerWorker, sockets - from)));
            }

            var connected = 0;
            foreach (var worker in workers)
            {
                var line = await worker.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromMinutes(5));
                if (line?.StartsWith("ready ", StringComparison.Ordinal) != true)
                {
                    throw new InvalidOperationException($"idle worker failed: {line}");
                }

                connected += int.Parse(line[6..], CultureInfo.InvariantCulture);
                Progress.Line($"idle: {connected}/{sockets} sockets connected");
            }

            Progress.Line("", final: true);
            await Task.Delay(5000);
            var after = pids.Sum(ServerProcess.ReadRss);
            return new IdleResult(connected, pids.Length, after - before);
        }
        finally
        {
            foreach (var worker in workers)
            {
                if (!worker.HasExited)
                {
                    worker.Kill(entireProcessTree: true);
                }

                await worker.WaitForExitAsync();
                worker.Dispose();
            }
        }
    }

    /// <summary>A worker process: connects its share of sockets, says "ready N", holds them until killed.</summary>
    public static async Task<int> WorkerAsync(Uri[] urls, string adminKey, string prefix, int from, int count)
    {
        using var admin = new BenchAdmin(urls[0], adminKey);
        var clients = new BenchClient[count];
        var tokens = await admin.CreateUsersAsync(prefix, from + count);
        await Parallel.ForEachAsync(Enumerable.Range(0, count), new ParallelOptions { MaxDegreeOfParallelism = 64 }, async (i, _) =>
        {
            var (uid, token) = tokens[from + i];
            clients[i] = await BenchClient.ConnectAsync(urls[(from + i) % urls.Length], uid, token, readEvents: false);
        });
        Console.WriteLine($"ready {count}");
        await Task.Delay(Timeout.Infinite);
        return 0;
    }

    private static Process StartWorker(Uri[] urls, string adminKey, string prefix, int from, int count)
    {
        var self = Environment.ProcessPath!;
        var start = new ProcessStartInfo(self) { RedirectStandardOutput = true };
        if (Path.GetFileNameWithoutExtension(self) == "dotnet")
        {
            start.ArgumentList.Add(typeof(Idle).Assembly.Location);
        }

        foreach (var arg in new[] { "idle-worker", "--url", string.Join(',', urls.Select(u => u.ToString().TrimEnd('/'))), "--admin-key", adminKey, "--prefix", prefix, "--from", from.ToString(CultureInfo.InvariantCulture), "--count", count.ToString(CultureInfo.InvariantCulture) })
        {
            start.ArgumentList.Add(arg);
        }

        return Process.Start(start) ?? throw new InvalidOperationException("could not start an idle worker");
    }
}
