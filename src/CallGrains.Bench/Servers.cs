using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace CallGrains.Bench;

/// <summary>Host processes the bench starts itself (Release build), on free loopback ports, stopped by PID.</summary>
public sealed class ServerProcess : IAsyncDisposable
{
    private readonly Process _process;

    private ServerProcess(Process process, Uri url, int siloPort)
    {
        _process = process;
        Url = url;
        SiloPort = siloPort;
    }

    public Uri Url { get; }

    public int SiloPort { get; }

    public int Pid => _process.Id;

    public static string BuildHost()
    {
        var root = RepoRoot();
        var output = Path.Combine(Path.GetTempPath(), "callgrains-bench-host");
        Run("dotnet", $"build \"{Path.Combine(root, "src", "CallGrains.Host")}\" -c Release -o \"{output}\" -v q -nologo");
        return Path.Combine(output, "CallGrains.Host.dll");
    }

    public static async Task<ServerProcess> StartAsync(string hostDll, string adminKey, int? primarySiloPort, IEnumerable<string> extra)
    {
        var (http, silo, gateway) = (FreePort(), FreePort(), FreePort());
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        start.ArgumentList.Add(hostDll);
        foreach (var arg in new[]
        {
            $"--urls=http://127.0.0.1:{http}", "--environment=Production", $"--Auth:AdminKey={adminKey}",
            $"--Orleans:SiloPort={silo}", $"--Orleans:GatewayPort={gateway}", "--Logging:LogLevel:Default=Warning",
        }.Concat(primarySiloPort is { } p ? [$"--Orleans:PrimarySiloPort={p}"] : []).Concat(extra))
        {
            start.ArgumentList.Add(arg);
        }

        var process = Process.Start(start) ?? throw new InvalidOperationException("could not start the host");
        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data?.Contains("listening on", StringComparison.Ordinal) == true)
            {
                ready.TrySetResult();
            }
        };
        process.ErrorDataReceived += (_, e) =>
        {
            if (!string.IsNullOrWhiteSpace(e.Data))
            {
                Console.Error.WriteLine($"[host {process.Id}] {e.Data}");
            }
        };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        await ready.Task.WaitAsync(TimeSpan.FromSeconds(60));
        return new ServerProcess(process, new Uri($"http://127.0.0.1:{http}"), silo);
    }

    /// <summary>Resident memory of the process, from /proc.</summary>
    public long RssBytes() => ReadRss(_process.Id);

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

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
    }

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
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

    private static void Run(string file, string args)
    {
        using var process = Process.Start(new ProcessStartInfo(file, args)) ?? throw new InvalidOperationException($"could not run {file}");
        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{file} {args} failed ({process.ExitCode})");
        }
    }
}
