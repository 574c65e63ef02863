using System.Diagnostics;
using CallGrains.LocalCluster;

namespace CallGrains.Bench;

/// <summary>Host processes for the bench: a Release build of the host, started on free loopback ports.</summary>
public static class ServerProcess
{
    public static string BuildHost()
    {
        var root = RepoRoot();
        // One output per checkout: a build in another worktree (a base commit measured against this one) would leave
        // its own files there, and an incremental build here does not rewrite those it thinks are current (the
        // runtimeconfig.json among them).
        var output = Path.Combine(Path.GetTempPath(), $"callgrains-bench-host{new string([.. root.Select(c => char.IsAsciiLetterOrDigit(c) ? c : '-')])}");
        using var build = Process.Start(new ProcessStartInfo("dotnet", $"build \"{Path.Combine(root, "src", "CallGrains.Host")}\" -c Release -o \"{output}\" -v q -nologo"))
            ?? throw new InvalidOperationException("could not run dotnet build");
        build.WaitForExit();
        if (build.ExitCode != 0)
        {
            throw new InvalidOperationException($"building the host failed ({build.ExitCode})");
        }

        return Path.Combine(output, "CallGrains.Host.dll");
    }

    /// <summary>An embedded-mode host; <paramref name="primarySiloPort"/> joins it to another one.</summary>
    public static async Task<HostProcess> StartAsync(string hostDll, string adminKey, int? primarySiloPort, params string[] settings)
    {
        var host = HostProcess.Start(
            hostDll,
            [
                "--environment=Production", "--Logging:LogLevel:Default=Warning",
                .. primarySiloPort is { } p ? new[] { $"--Orleans:PrimarySiloPort={p}" } : [],
                .. LoadSettings.NoCallQuotas,
                .. settings,
            ],
            environment: new Dictionary<string, string> { ["Auth__AdminKey"] = adminKey });
        await host.WaitHealthyAsync(TimeSpan.FromSeconds(60));
        return host;
    }

    /// <summary>Resident memory of a process, from /proc.</summary>
    public static long ReadRss(int pid)
    {
        foreach (var line in File.ReadLines($"/proc/{pid}/status"))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
            {
                return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture) * 1024;
            }
        }

        return 0;
    }

    public static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(Directory.GetCurrentDirectory()); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "CallGrains.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("run the bench from inside the CallGrains repository");
    }
}
