using System.Diagnostics;
using System.Net;
using System.Text.RegularExpressions;
using CallGrains.Gateway.Tests;
using CallGrains.LocalCluster;

namespace CallGrains.Cluster.Tests;

/// <summary>
/// deploy/nginx.conf for real (Debian nginx) in front of two gateway processes on loopback, each with its management
/// port (Gateway:ManagementPort) behind the config's management server.
/// </summary>
public sealed partial class LoadBalancerTests : IAsyncLifetime
{
    private readonly int[] _management = [Ports.Free(), Ports.Free()];
    private HostProcess _first = null!;
    private HostProcess _second = null!;
    private Process _nginx = null!;
    private string _dir = null!;
    private int _port;
    private int _managementPort;

    private Uri Public => new($"http://127.0.0.1:{_port}");

    private Uri Management => new($"http://127.0.0.1:{_managementPort}");

    private string AccessLog => Path.Combine(_dir, "access.log");

    public async Task InitializeAsync()
    {
        var common = new[] { "--environment=Production", $"--Auth:AdminKey={Admin.DefaultKey}", "--Logging:LogLevel:Default=Warning" };
        _first = HostProcess.Start(HostProcess.DefaultHostDll(), [.. common, $"--Gateway:ManagementPort={_management[0]}"]);
        await _first.WaitHealthyAsync(TimeSpan.FromSeconds(60));
        _second = HostProcess.Start(HostProcess.DefaultHostDll(), [.. common, $"--Gateway:ManagementPort={_management[1]}", $"--Orleans:PrimarySiloPort={_first.SiloPort}"]);
        await _second.WaitHealthyAsync(TimeSpan.FromSeconds(60));

        // The shipped config, with the compose service names, ports and log path swapped for these two processes.
        _dir = Directory.CreateTempSubdirectory("callgrains-nginx-").FullName;
        (_port, _managementPort) = (Ports.Free(), Ports.Free());
        var config = File.ReadAllText(Path.Combine(DeployFiles.Root, "deploy", "nginx.conf"));
        foreach (var (from, to) in new[]
        {
            ("        server silo:8080 max_fails=1 fail_timeout=5s;", $"        server 127.0.0.1:{_first.HttpPort} max_fails=1 fail_timeout=5s;\n        server 127.0.0.1:{_second.HttpPort} max_fails=1 fail_timeout=5s;"),
            ("        server silo:9090;", $"        server 127.0.0.1:{_management[0]};\n        server 127.0.0.1:{_management[1]};"),
            ("listen 80;", $"listen 127.0.0.1:{_port};"),
            ("listen 9090;", $"listen 127.0.0.1:{_managementPort};"),
            ("access_log /var/log/nginx/access.log ", $"access_log {AccessLog} "),
        })
        {
            Assert.Contains(from, config, StringComparison.Ordinal);
            config = config.Replace(from, to, StringComparison.Ordinal);
        }

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
        var lb = Public;
        using var admin = new Admin(Management);
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

    [Fact]
    public async Task Tokens_in_the_socket_url_stay_out_of_the_access_log_and_admin_and_metrics_are_only_on_the_management_server()
    {
        using var admin = new Admin(Management);
        var (uid, token) = (await admin.UsersAsync(1, "log"))[0];
        await using (var browser = await WsClient.ConnectWithAsync(Public, uid, token, tokenInQuery: true))
        {
            Assert.True((await browser.RequestAsync("ping")).IsOk());
        }

        // nginx writes a socket's line when it closes; the REST calls before it are there already.
        await Eventually.Async(() => Task.FromResult(File.Exists(AccessLog) && File.ReadAllText(AccessLog).Contains("GET /v1/ws", StringComparison.Ordinal)), "the socket in the access log", TimeSpan.FromSeconds(30));
        var log = await File.ReadAllTextAsync(AccessLog);
        Assert.Contains("POST /v1/users ", log, StringComparison.Ordinal);
        Assert.DoesNotContain(token, log, StringComparison.Ordinal);
        Assert.DoesNotContain("token=", log, StringComparison.Ordinal);

        // Through the public server the admin API and the metrics do not exist; through the management server they do.
        using var outside = new Admin(Public);
        using (var create = await outside.SendAsync(HttpMethod.Post, "/v1/users", new { uid = "x" + uid, name = "X" }))
        using (var metrics = await outside.Http.GetAsync(new Uri("/metrics", UriKind.Relative)))
        {
            Assert.Equal((HttpStatusCode.NotFound, HttpStatusCode.NotFound), (create.StatusCode, metrics.StatusCode));
        }

        using (var metrics = await admin.Http.GetAsync(new Uri("/metrics", UriKind.Relative)))
        {
            Assert.Equal(HttpStatusCode.OK, metrics.StatusCode);

            // Orleans' own figures are there, but not the size of every message between the two silos (recorded per
            // message, it cost CPU and memory out of proportion: docs/benchmarks.md).
            var text = await metrics.Content.ReadAsStringAsync();
            Assert.Contains("orleans_", text, StringComparison.Ordinal);
            Assert.DoesNotContain("orleans_messaging_sent_messages_size", text, StringComparison.Ordinal);
            Assert.DoesNotContain("orleans_messaging_received_messages_size", text, StringComparison.Ordinal);
        }
    }

    private async Task<double> OpenSocketsAsync(HostProcess host)
    {
        using var http = new HttpClient();
        var management = new Uri($"http://127.0.0.1:{_management[host == _first ? 0 : 1]}");
        for (var i = 0; i < 40; i++)
        {
            var text = await http.GetStringAsync(new Uri(management, "/metrics"));
            var match = OpenConnections().Match(text);
            if (match.Success && double.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) > 0)
            {
                return double.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
            }

            await Task.Delay(250);
        }

        return 0;
    }

    [GeneratedRegex(@"^callgrains_gateway_connections(?:\{[^}]*\})? (\S+)", RegexOptions.Multiline)]
    private static partial Regex OpenConnections();
}
