using System.Diagnostics;
using System.Text.RegularExpressions;
using CallGrains.Gateway.Tests;
using CallGrains.LocalCluster;

namespace CallGrains.Cluster.Tests;

/// <summary>deploy/nginx.conf for real (Debian nginx) in front of two gateway processes on loopback.</summary>
public sealed partial class LoadBalancerTests : IAsyncLifetime
{
    private HostProcess _first = null!;
    private HostProcess _second = null!;
    private Process _nginx = null!;
    private string _dir = null!;
    private int _port;

    public async Task InitializeAsync()
    {
        var common = new[] { "--environment=Production", $"--Auth:AdminKey={Admin.DefaultKey}", "--Logging:LogLevel:Default=Warning" };
        _first = HostProcess.Start(HostProcess.DefaultHostDll(), common);
        await _first.WaitHealthyAsync(TimeSpan.FromSeconds(60));
        _second = HostProcess.Start(HostProcess.DefaultHostDll(), [.. common, $"--Orleans:PrimarySiloPort={_first.SiloPort}"]);
        await _second.WaitHealthyAsync(TimeSpan.FromSeconds(60));

        // The shipped config, with the compose service name and port swapped for these two processes.
        _dir = Directory.CreateTempSubdirectory("callgrains-nginx-").FullName;
        _port = Ports.Free();
        var config = File.ReadAllText(Path.Combine(RepoRoot(), "deploy", "nginx.conf"));
        config = config.Replace("        server silo:8080 max_fails=1 fail_timeout=5s;", $"        server 127.0.0.1:{_first.HttpPort} max_fails=1 fail_timeout=5s;\n        server 127.0.0.1:{_second.HttpPort} max_fails=1 fail_timeout=5s;", StringComparison.Ordinal);
        config = config.Replace("listen 80;", $"listen 127.0.0.1:{_port};", StringComparison.Ordinal);
        Assert.Contains($"127.0.0.1:{_second.HttpPort}", config, StringComparison.Ordinal);
        var path = Path.Combine(_dir, "nginx.conf");
        await File.WriteAllTextAsync(path, config);
        var nginx = new[] { "/usr/sbin/nginx", "/usr/bin/nginx" }.FirstOrDefault(File.Exists)
            ?? throw new InvalidOperationException("nginx is not installed: run `apt-get install -y nginx` (tests/run.sh does)");
        var start = new ProcessStartInfo(nginx) { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var arg in new[] { "-c", path, "-p", _dir, "-e", "stderr", "-g", $"daemon off; pid {_dir}/nginx.pid;" })
        {
            start.ArgumentList.Add(arg);
        }

        _nginx = Process.Start(start)!;
        var deadline = DateTime.UtcNow.AddSeconds(20);
        using var http = new HttpClient();
        while (true)
        {
            try
            {
                if ((await http.GetAsync(new Uri($"http://127.0.0.1:{_port}/healthz"))).IsSuccessStatusCode)
                {
                    break;
                }
            }
            catch (HttpRequestException)
            {
            }

            if (_nginx.HasExited)
            {
                Assert.Fail($"nginx exited: {await _nginx.StandardError.ReadToEndAsync()}");
            }

            Assert.True(DateTime.UtcNow < deadline, "nginx did not come up");
            await Task.Delay(200);
        }
    }

    public async Task DisposeAsync()
    {
        if (!_nginx.HasExited)
        {
            _nginx.Kill(entireProcessTree: true);
            await _nginx.WaitForExitAsync();
        }

        _nginx.Dispose();
        await _second.DisposeAsync();
        await _first.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public async Task Clients_connect_through_the_balancer_and_call_each_other()
    {
        var lb = new Uri($"http://127.0.0.1:{_port}");
        using var admin = new Admin(lb);
        var users = await admin.UsersAsync(4);
        var sockets = new List<WsClient>();
        foreach (var (uid, token) in users)
        {
            sockets.Add(await WsClient.ConnectAsync(lb, uid, token, "lb"));
        }

        // least_conn spread the sockets over both gateways.
        Assert.True(await OpenSocketsAsync(_first) > 0 && await OpenSocketsAsync(_second) > 0);
        for (var p = 0; p < 2; p++)
        {
            var (caller, callee) = (sockets[2 * p], sockets[(2 * p) + 1]);
            var call = await caller.CallAsync(callee.Uid);
            await callee.EventAsync(0, "incomingCallReceived");
            Assert.Equal("ongoing", (await callee.RequestAsync("acceptCall", new { sessionId = call.SessionId() })).Status());
            await caller.EventAsync(0, "outgoingCallAccepted");
            Assert.Equal("ended", (await caller.RequestAsync("endCall", new { sessionId = call.SessionId() })).Status());
            await callee.EventAsync(1, "callEndedMessageReceived");
        }

        foreach (var socket in sockets)
        {
            await socket.DisposeAsync();
        }
    }

    private static async Task<double> OpenSocketsAsync(HostProcess host)
    {
        using var http = new HttpClient();
        for (var i = 0; i < 40; i++)
        {
            var text = await http.GetStringAsync(new Uri(host.Url, "/metrics"));
            var match = OpenConnections().Match(text);
            if (match.Success && double.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) > 0)
            {
                return double.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
            }

            await Task.Delay(250);
        }

        return 0;
    }

    private static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "CallGrains.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("repository root not found");
    }

    [GeneratedRegex(@"^callgrains_gateway_connections(?:\{[^}]*\})? (\S+)", RegexOptions.Multiline)]
    private static partial Regex OpenConnections();
}
