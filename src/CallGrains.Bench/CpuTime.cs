using System.Globalization;

namespace CallGrains.Bench;

/// <summary>A process whose CPU time a run accounts for, by name.</summary>
public sealed record Watched(string Name, int Pid);

/// <summary>CPU time of processes from /proc/PID/stat (user + system), to say where a run's cycles spend the cores.</summary>
public static class CpuTime
{
    // Linux reports utime and stime in clock ticks of USER_HZ, which is 100 on every mainstream kernel.
    private const double TicksPerSecond = 100;

    /// <summary>CPU seconds used so far by <paramref name="pid"/>, or 0 when it is gone.</summary>
    public static double Seconds(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");

            // The command name (field 2) may hold spaces; the fields after its closing parenthesis are positional.
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            var utime = long.Parse(fields[11], CultureInfo.InvariantCulture);
            var stime = long.Parse(fields[12], CultureInfo.InvariantCulture);
            return (utime + stime) / TicksPerSecond;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException)
        {
            return 0;
        }
    }

    public static double[] Sample(IReadOnlyList<Watched> processes) => [.. processes.Select(p => Seconds(p.Pid))];

    /// <summary>"host 1.23 ms, redis 0.40 ms, ..." of CPU per cycle between two samples.</summary>
    public static string PerCycle(IReadOnlyList<Watched> processes, double[] from, double[] to, long cycles)
    {
        if (cycles == 0 || processes.Count == 0)
        {
            return "";
        }

        var parts = processes.Select((p, i) => string.Create(CultureInfo.InvariantCulture, $"{p.Name} {(to[i] - from[i]) * 1000 / cycles:F2}"));
        var total = (to.Sum() - from.Sum()) * 1000 / cycles;
        return string.Create(CultureInfo.InvariantCulture, $"CPU ms per cycle: {string.Join(", ", parts)}; total {total:F2}");
    }
}
