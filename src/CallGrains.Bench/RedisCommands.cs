using System.Diagnostics;
using System.Globalization;

namespace CallGrains.Bench;

/// <summary>
/// Redis commands per measured cycle: <c>INFO commandstats</c> of the cluster's redis-server (through
/// <c>redis-cli</c>) when the measured window starts and when it ends. Commands run inside scripts are counted too
/// (an Orleans state write is one <c>evalsha</c> that runs <c>hget</c> and <c>hmset</c>).
/// </summary>
public sealed class RedisCommands(int port)
{
    // The bench's own probes, not the cycles'.
    private static readonly HashSet<string> Ignored = ["info", "ping", "config|get", "client|setinfo", "client|setname", "cluster|nodes", "echo", "subscribe"];

    public async Task<Dictionary<string, long>> SampleAsync()
    {
        var start = new ProcessStartInfo("redis-cli") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[] { "-p", port.ToString(CultureInfo.InvariantCulture), "INFO", "commandstats" })
        {
            start.ArgumentList.Add(arg);
        }

        using var cli = Process.Start(start) ?? throw new InvalidOperationException("could not run redis-cli");
        var text = await cli.StandardOutput.ReadToEndAsync();
        await cli.WaitForExitAsync();
        var calls = new Dictionary<string, long>();
        foreach (var line in text.Split('\n', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            // cmdstat_evalsha:calls=176036,usec=...
            if (line.StartsWith("cmdstat_", StringComparison.Ordinal) && line.IndexOf(':', StringComparison.Ordinal) is > 8 and var colon
                && line.IndexOf("calls=", colon, StringComparison.Ordinal) is > 0 and var at)
            {
                var end = line.IndexOf(',', at);
                calls[line[8..colon]] = long.Parse(line[(at + 6)..(end < 0 ? line.Length : end)], CultureInfo.InvariantCulture);
            }
        }

        return calls;
    }

    /// <summary>"redis commands per cycle: evalsha 11.1, zadd 6.0, ...; 51.3 in all" between two samples.</summary>
    public static string PerCycle(Dictionary<string, long> from, Dictionary<string, long> to, long cycles)
    {
        if (cycles == 0)
        {
            return "";
        }

        var per = to.Where(kv => !Ignored.Contains(kv.Key))
            .Select(kv => (Name: kv.Key, PerCycle: (kv.Value - from.GetValueOrDefault(kv.Key)) / (double)cycles))
            .Where(c => c.PerCycle >= 0.05)
            .OrderByDescending(c => c.PerCycle)
            .ToList();
        return string.Create(CultureInfo.InvariantCulture,
            $"Redis commands per cycle (inside scripts too): {string.Join(", ", per.Select(c => $"{c.Name} {c.PerCycle:F1}"))}; {per.Sum(c => c.PerCycle):F1} in all");
    }
}
