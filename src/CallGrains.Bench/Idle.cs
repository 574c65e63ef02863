using System.Diagnostics;
using System.Globalization;

namespace CallGrains.Bench;

public sealed record IdleResult(int Sockets, int Servers, long DeltaBytes)
{
    /// <summary>The growth of each watched process's resident memory, in the order of the pids given.</summary>
    public IReadOnlyList<long> DeltaPerProcess { get; init; } = [];

    /// <summary>The CPU seconds the servers used, summed, from the first socket's connect to the last one's welcome.</summary>
    public double ConnectCpuSeconds { get; init; }

    public double BytesPerSocket => Sockets == 0 ? 0 : DeltaBytes / (double)Sockets;

    public int Print()
    {
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"idle: {Sockets} authenticated sockets on {Servers} gateway(s): server RSS +{DeltaBytes / 1024.0 / 1024:F1} MiB = {BytesPerSocket / 1024:F1} KiB per socket; connecting them took {ConnectCpuMsPerSocket:F3} ms of server CPU a socket"));
        return 0;
    }

    public double ConnectCpuMsPerSocket => Sockets == 0 ? 0 : ConnectCpuSeconds * 1000 / Sockets;
}

/// <summary>
/// Holds many idle authenticated sockets and reports what they cost the servers: the growth of the servers'
/// resident memory divided by the number of sockets. The sockets are held by worker processes (at most
/// <see cref="PerWorker"/> each), since one process may hold only so many descriptors.
/// </summary>
public static class Idle
{
    private const int PerWorker = 7000;

    /// <param name="snapshotPause">
    /// When set, the run waits this long after the baseline and again once every socket is open (saying so on
    /// stdout), so a heap snapshot of each state can be taken (dotnet-gcdump; docs/benchmarks.md).
    /// </param>
    /// <param name="usersViaFirst">
    /// Makes every user through the first server (<c>--users-via first</c>, the method before issue 22 session 25) instead of
    /// through the server its socket connects to. A user's grain is placed where it is first needed, so then the grains
    /// of users whose sockets go to another server move there on connect, and the memory they leave behind is counted
    /// as the sockets'.
    /// </param>
    public static async Task<IdleResult> RunAsync(Uri[] urls, string adminKey, int sockets, int[] pids, TimeSpan snapshotPause = default, bool usersViaFirst = false)
    {
        var prefix = $"idle{Guid.NewGuid().ToString("N")[..6]}-";
        var tokenFile = Path.Combine(Path.GetTempPath(), $"{prefix}tokens.txt");
        if (adminKey.Length == 0)
        {
            // A bare WebSocket server (the floor): it takes any token.
            await File.WriteAllLinesAsync(tokenFile, Enumerable.Range(0, sockets).Select(i => $"{prefix}{i} t{i}"));
        }
        else
        {
            // Users and tokens are made before the baseline, so the measurement holds only what the sockets add; each
            // through the server its socket will use (socket i: urls[i % n]), so its grain is in memory there, as a
            // user's grain is once it has followed its devices.
            Progress.Line($"creating {sockets} users and tokens...");
            Uri[] via = usersViaFirst ? [urls[0]] : urls;
            var users = new (string Uid, string Token)[sockets];
            await Task.WhenAll(via.Select(async (url, k) =>
            {
                using var admin = new BenchAdmin(url, adminKey);
                int[] numbers = [.. Enumerable.Range(0, sockets).Where(i => i % via.Length == k)];
                var made = await admin.CreateUsersAsync(prefix, numbers);
                for (var j = 0; j < numbers.Length; j++)
                {
                    users[numbers[j]] = made[j];
                }
            }));
            await File.WriteAllLinesAsync(tokenFile, users.Select(u => $"{u.Uid} {u.Token}"));
        }

        // Let the servers settle after creating users, then take the baseline.
        await Task.Delay(3000);
        long[] before = [.. pids.Select(ServerProcess.ReadRss)];
        await PauseForSnapshotAsync("baseline taken, no socket open", snapshotPause);
        var workers = new List<Process>();
        var cpuBefore = pids.Sum(CpuTime.Seconds);
        try
        {
            for (var from = 0; from < sockets; from += PerWorker)
            {
                workers.Add(StartWorker(urls, tokenFile, from, Math.Min(PerWorker, sockets - from)));
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

            var connectCpu = pids.Sum(CpuTime.Seconds) - cpuBefore;
            Progress.Line("", final: true);
            await Task.Delay(5000);
            long[] delta = [.. pids.Select((pid, i) => ServerProcess.ReadRss(pid) - before[i])];
            await PauseForSnapshotAsync($"{connected} sockets open", snapshotPause);
            return new IdleResult(connected, pids.Length, delta.Sum()) { DeltaPerProcess = delta, ConnectCpuSeconds = connectCpu };
        }
        finally
        {
            File.Delete(tokenFile);
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

    private static async Task PauseForSnapshotAsync(string state, TimeSpan pause)
    {
        if (pause > TimeSpan.Zero)
        {
            Console.WriteLine($"snapshot: {state}; waiting {pause.TotalSeconds:F0} s");
            await Task.Delay(pause);
        }
    }

    /// <summary>A worker process: connects its share of sockets, says "ready N", holds them until killed.</summary>
    public static async Task<int> WorkerAsync(Uri[] urls, string tokenFile, int from, int count)
    {
        var clients = new CallGrains.Client.Protocol.ProtocolConnection[count];
        var tokens = (await File.ReadAllLinesAsync(tokenFile)).Skip(from).Take(count).Select(l => l.Split(' ')).ToArray();
        await Parallel.ForEachAsync(Enumerable.Range(0, count), new ParallelOptions { MaxDegreeOfParallelism = 64 }, async (i, _) =>
        {
            clients[i] = await BenchSocket.ConnectAsync(urls[(from + i) % urls.Length], tokens[i][1], read: false);
        });
        Console.WriteLine($"ready {count}");
        await Task.Delay(Timeout.Infinite);
        return 0;
    }

    private static Process StartWorker(Uri[] urls, string tokenFile, int from, int count)
    {
        var self = Environment.ProcessPath!;
        var start = new ProcessStartInfo(self) { RedirectStandardOutput = true };
        if (Path.GetFileNameWithoutExtension(self) == "dotnet")
        {
            start.ArgumentList.Add(typeof(Idle).Assembly.Location);
        }

        foreach (var arg in new[] { "idle-worker", "--url", string.Join(',', urls.Select(u => u.ToString().TrimEnd('/'))), "--tokens", tokenFile, "--from", from.ToString(CultureInfo.InvariantCulture), "--count", count.ToString(CultureInfo.InvariantCulture) })
        {
            start.ArgumentList.Add(arg);
        }

        return Process.Start(start) ?? throw new InvalidOperationException("could not start an idle worker");
    }
}
