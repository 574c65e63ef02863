using System.Diagnostics;

namespace CallGrains.LocalCluster;

/// <summary>One real CallGrains host process on loopback ports.</summary>
public sealed class HostProcess : IAsyncDisposable
{
    private readonly ProcessStartInfo _start;
    private readonly List<string> _output = [];
    private Process _process;

    private HostProcess(ProcessStartInfo start, int httpPort, int siloPort, int gatewayPort)
    {
        _start = start;
        HttpPort = httpPort;
        SiloPort = siloPort;
        GatewayPort = gatewayPort;
        _process = Launch();
    }

    public int HttpPort { get; }

    public int SiloPort { get; }

    public int GatewayPort { get; }

    public Uri Url => new($"http://127.0.0.1:{HttpPort}");

    public int Pid => _process.Id;

    public bool HasExited => _process.HasExited;

    public IReadOnlyList<string> Output
    {
        get
        {
            lock (_output)
            {
                return [.. _output];
            }
        }
    }

    /// <summary>The host assembly: next to this tool (it is built with it), or at the path given.</summary>
    public static string DefaultHostDll() => Path.Combine(AppContext.BaseDirectory, "CallGrains.Host.dll");

    /// <param name="environment">
    /// Settings passed as environment variables (<c>Auth__AdminKey</c>), besides <see cref="HostRuntime.Environment"/>:
    /// secrets go here, not in <paramref name="args"/>, since any user of the machine can read a process's command line
    /// (ps, /proc/PID/cmdline) but not its environment.
    /// </param>
    public static HostProcess Start(string hostDll, IEnumerable<string> args, int? httpPort = null, IReadOnlyDictionary<string, string>? environment = null)
    {
        var (http, silo, gateway) = (httpPort ?? Ports.Free(), Ports.Free(), Ports.Free());
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var (name, value) in HostRuntime.Environment)
        {
            // As the image sets them, unless this process's environment already says otherwise (bench --server-env).
            start.Environment[name] = System.Environment.GetEnvironmentVariable(name) ?? value;
        }

        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[name] = value;
        }

        start.ArgumentList.Add(hostDll);
        foreach (var arg in new[]
        {
            $"--urls=http://127.0.0.1:{http}",
            $"--Orleans:SiloPort={silo}",
            $"--Orleans:GatewayPort={gateway}",
        }.Concat(args))
        {
            start.ArgumentList.Add(arg);
        }

        return new HostProcess(start, http, silo, gateway);
    }

    /// <summary>Waits until <c>/healthz</c> answers.</summary>
    public async Task WaitHealthyAsync(TimeSpan timeout)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"host {HttpPort} exited ({_process.ExitCode}): {string.Join(" | ", Output.TakeLast(5))}");
            }

            try
            {
                using var response = await http.GetAsync(new Uri(Url, "/healthz"));
                if (response.IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
            {
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"host {HttpPort} not healthy after {timeout.TotalSeconds} s");
            }

            await Task.Delay(200);
        }
    }

    /// <summary>
    /// Waits for the host to exit on its own and for the last of its output to be read (<see cref="Output"/> is
    /// complete once this returns true; <see cref="HasExited"/> may turn true before its last lines arrive).
    /// </summary>
    public async Task<bool> WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(cts.Token);
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    /// <summary>kill -9: the process gets no chance to say goodbye.</summary>
    public async Task KillAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }
    }

    /// <summary>SIGTERM: a graceful stop, as an orchestrator asks for one.</summary>
    public async Task StopAsync(TimeSpan timeout)
    {
        if (_process.HasExited)
        {
            return;
        }

        Signals.Terminate(_process.Id);
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            await KillAsync();
        }
    }

    /// <summary>Starts the same host again, on the same ports.</summary>
    public void Restart()
    {
        if (!_process.HasExited)
        {
            throw new InvalidOperationException("stop the host before restarting it");
        }

        _process.Dispose();
        _process = Launch();
    }

    public async ValueTask DisposeAsync()
    {
        await KillAsync();
        _process.Dispose();
    }

    private Process Launch()
    {
        var process = Process.Start(_start) ?? throw new InvalidOperationException("could not start the host");
        DataReceivedEventHandler keep = (_, e) =>
        {
            if (e.Data is { } line)
            {
                lock (_output)
                {
                    if (_output.Count > 2000)
                    {
                        _output.RemoveAt(0);
                    }

                    _output.Add(line);
                }
            }
        };
        process.OutputDataReceived += keep;
        process.ErrorDataReceived += keep;
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }
}
