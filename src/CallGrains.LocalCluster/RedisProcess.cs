using System.Diagnostics;
using System.Globalization;

namespace CallGrains.LocalCluster;

/// <summary>A real redis-server on a free loopback port, started here and stopped by PID.</summary>
public sealed class RedisProcess : IAsyncDisposable
{
    private static readonly string[] Candidates = ["/usr/bin/redis-server", "/usr/local/bin/redis-server"];

    private readonly string _directory;
    private readonly string[] _settings;
    private Process _process;

    private RedisProcess(int port, string directory, string[] settings)
    {
        Port = port;
        _directory = directory;
        _settings = settings;
        _process = Launch();
    }

    public int Port { get; }

    public int Pid => _process.Id;

    public string ConnectionString => $"127.0.0.1:{Port}";

    /// <param name="settings">More configuration (<c>--maxmemory</c>, <c>--user</c>, ...), given before this harness's own port, address and directory.</param>
    public static async Task<RedisProcess> StartAsync(int? port = null, params string[] settings)
    {
        var directory = Directory.CreateTempSubdirectory("callgrains-redis-").FullName;
        var redis = new RedisProcess(port ?? Ports.Free(), directory, settings);
        await redis.WaitReadyAsync();
        return redis;
    }

    /// <summary>
    /// Stops redis-server (SIGTERM: it flushes its append-only file, as a planned restart does), keeps it down for
    /// <paramref name="downFor"/>, and starts it again on the same port with the same data.
    /// </summary>
    public async Task RestartAsync(TimeSpan downFor)
    {
        Signals.Terminate(_process.Id);
        using (var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10)))
        {
            await _process.WaitForExitAsync(cts.Token);
        }

        _process.Dispose();
        await Task.Delay(downFor);
        _process = Launch();
        await WaitReadyAsync();
    }

    public async Task StopAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        _process.Dispose();
        Directory.Delete(_directory, recursive: true);
    }

    private Process Launch()
    {
        var binary = Candidates.FirstOrDefault(File.Exists)
            ?? throw new InvalidOperationException("redis-server is not installed: run `apt-get install -y redis-server` (tests/run.sh does)");
        var start = new ProcessStartInfo(binary) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in _settings.Concat(["--port", Port.ToString(CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--save", "", "--appendonly", "yes", "--appendfsync", "everysec", "--dir", _directory]))
        {
            start.ArgumentList.Add(arg);
        }

        var process = Process.Start(start) ?? throw new InvalidOperationException("could not start redis-server");
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    private async Task WaitReadyAsync()
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!await Ports.AnswersPingAsync(Port))
        {
            if (_process.HasExited || DateTime.UtcNow > deadline)
            {
                throw new InvalidOperationException($"redis-server did not answer on port {Port}");
            }

            await Task.Delay(50);
        }
    }
}
