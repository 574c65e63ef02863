using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using CallGrains.LocalCluster;

namespace CallGrains.Gateway.Tests;

/// <summary>
/// A real coturn (Debian's <c>coturn</c> package) on a free loopback UDP port, checking TURN REST credentials
/// (<c>use-auth-secret</c>) against a secret, with no configuration file; started here and stopped by its PID.
/// </summary>
public sealed class CoturnProcess : IAsyncDisposable
{
    public const string Realm = "callgrains.test";
    private const int MaxOutputLines = 2000;
    private static readonly string[] Candidates = ["/usr/bin/turnserver", "/usr/local/bin/turnserver"];

    private readonly Process _process;
    private readonly string _directory;
    private readonly ConcurrentQueue<string> _output = new();

    private CoturnProcess(int port, string secret)
    {
        Port = port;
        _directory = Directory.CreateTempSubdirectory("callgrains-coturn-").FullName;
        var binary = Candidates.FirstOrDefault(File.Exists)
            ?? throw new InvalidOperationException("coturn is not installed: run `apt-get install -y coturn` (tests/run.sh does)");
        var start = new ProcessStartInfo(binary) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[]
        {
            "-n", "--listening-ip=127.0.0.1", "--relay-ip=127.0.0.1", $"--listening-port={port.ToString(CultureInfo.InvariantCulture)}",
            "--use-auth-secret", $"--static-auth-secret={secret}", $"--realm={Realm}",
            "--no-tls", "--no-dtls", "--no-tcp", "--no-cli", "--no-rfc5780",
            // The test's peer is on loopback too; a production server keeps loopback peers refused (the default).
            "--allow-loopback-peers",
            "--log-file=stdout", "--simple-log",
            $"--pidfile={Path.Combine(_directory, "turnserver.pid")}", $"--userdb={Path.Combine(_directory, "turndb")}",
        })
        {
            start.ArgumentList.Add(arg);
        }

        _process = Process.Start(start) ?? throw new InvalidOperationException("could not start turnserver");
        _process.OutputDataReceived += (_, e) => Keep(e.Data);
        _process.ErrorDataReceived += (_, e) => Keep(e.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    public int Port { get; }

    public IPEndPoint EndPoint => new(IPAddress.Loopback, Port);

    /// <summary>The last lines coturn wrote, for a failure message.</summary>
    public string Tail => string.Join('\n', _output.TakeLast(30));

    public static async Task<CoturnProcess> StartAsync(string secret)
    {
        var coturn = new CoturnProcess(FreeUdpPort(), secret);
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!await TurnProbe.AnswersBindingAsync(coturn.EndPoint))
        {
            if (coturn._process.HasExited || DateTime.UtcNow > deadline)
            {
                var tail = coturn.Tail;
                await coturn.DisposeAsync();
                throw new InvalidOperationException($"turnserver did not answer on 127.0.0.1:{coturn.Port}:\n{tail}");
            }

            await Task.Delay(100);
        }

        return coturn;
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill();
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await _process.WaitForExitAsync(cts.Token);
        }

        _process.Dispose();
        Directory.Delete(_directory, recursive: true);
    }

    /// <summary>A port free for both TCP (the harness's own check) and UDP on 127.0.0.1, below the ephemeral range.</summary>
    private static int FreeUdpPort()
    {
        for (var attempt = 0; attempt < 50; attempt++)
        {
            var port = Ports.Free();
            try
            {
                using var udp = new UdpClient(new IPEndPoint(IPAddress.Loopback, port));
                return port;
            }
            catch (SocketException)
            {
            }
        }

        throw new InvalidOperationException("no free UDP port on 127.0.0.1 in 50 tries");
    }

    private void Keep(string? line)
    {
        if (line is null)
        {
            return;
        }

        _output.Enqueue(line);
        while (_output.Count > MaxOutputLines && _output.TryDequeue(out _))
        {
        }
    }
}
