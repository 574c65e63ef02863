using System.Collections.Immutable;
using System.Net;
using System.Net.WebSockets;
using CallGrains.Host;
using CallGrains.LocalCluster;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;

namespace CallGrains.Gateway.Tests;

/// <summary><c>/alive</c> is liveness (the process answers); <c>/healthz</c> is readiness (PROTOCOL section 8).</summary>
public sealed class HealthTests
{
    [Fact]
    public async Task A_running_node_is_alive_and_ready()
    {
        await using var node = await GatewayNode.StartAsync();
        using var http = Http(node);

        Assert.Equal((HttpStatusCode.OK, "Healthy"), await GetAsync(http, "/alive"));
        Assert.Equal((HttpStatusCode.OK, "Healthy"), await GetAsync(http, "/healthz"));
        var report = await node.Services.GetRequiredService<HealthCheckService>().CheckHealthAsync();
        Assert.Equal(["membership", "stopping"], report.Entries.Keys.Order());
    }

    [Fact]
    public async Task Readiness_turns_503_as_soon_as_the_host_starts_stopping_while_liveness_stays_200()
    {
        var node = await GatewayNode.StartAsync();
        await using var _ = node;
        using var http = Http(node);
        using var admin = new Admin(node.BaseUri);
        var user = (await admin.UsersAsync(1))[0];
        await using var client = await WsClient.ConnectAsync(node, user.Uid, user.Token);

        // Kestrel stops listening moments after the host starts stopping; this callback holds the host at that first
        // moment (callbacks run last-registered first, so before the gateway's own drain) while the probes look.
        using var release = new ManualResetEventSlim();
        var held = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        node.Services.GetRequiredService<IHostApplicationLifetime>().ApplicationStopping.Register(() =>
        {
            held.TrySetResult();
            release.Wait(TimeSpan.FromSeconds(60));
        });
        var stopping = Task.Run(node.StopAsync);
        await held.Task.WaitAsync(TimeSpan.FromSeconds(30));
        try
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, (await GetAsync(http, "/healthz")).Status);
            Assert.Equal(HttpStatusCode.OK, (await GetAsync(http, "/alive")).Status);
        }
        finally
        {
            release.Set();
        }

        Assert.Equal((WebSocketCloseStatus)1012, await client.WaitClosedAsync(TimeSpan.FromSeconds(30)));
        await stopping.WaitAsync(TimeSpan.FromSeconds(60));
    }

    [Fact]
    public async Task A_node_whose_redis_is_down_is_not_ready_and_is_ready_again_when_redis_is_back()
    {
        await using var redis = await RedisProcess.StartAsync();
        await using var node = await GatewayNode.StartAsync(null, redis.ConnectionString);
        using var http = Http(node);
        await WaitForAsync(http, HttpStatusCode.OK, TimeSpan.FromSeconds(60));
        var report = await node.Services.GetRequiredService<HealthCheckService>().CheckHealthAsync();
        Assert.Contains("storage", report.Entries.Keys);

        // redis-server is stopped by PID for 20 s (far longer than the check needs to notice), then started again.
        var restart = redis.RestartAsync(TimeSpan.FromSeconds(20));
        var unready = false;
        for (var i = 0; i < 200 && !restart.IsCompleted && !unready; i++)
        {
            var (status, _) = await GetAsync(http, "/healthz");
            unready = status == HttpStatusCode.ServiceUnavailable;
            if (unready)
            {
                Assert.Equal(HttpStatusCode.OK, (await GetAsync(http, "/alive")).Status);
            }
            else
            {
                await Task.Delay(100);
            }
        }

        Assert.True(unready, "/healthz stayed 200 while redis-server was down");
        await restart;
        await WaitForAsync(http, HttpStatusCode.OK, TimeSpan.FromSeconds(90));
    }

    [Fact]
    public async Task The_membership_check_is_ready_only_while_the_silo_is_active()
    {
        var self = SiloAddress.New(IPAddress.Loopback, 11111, 1);
        foreach (var (status, expected) in new[] { (SiloStatus.Joining, HealthStatus.Unhealthy), (SiloStatus.Active, HealthStatus.Healthy), (SiloStatus.ShuttingDown, HealthStatus.Unhealthy), (SiloStatus.Dead, HealthStatus.Unhealthy) })
        {
            var check = new MembershipCheck(new Membership(self, status), new Silo(self));
            Assert.Equal(expected, (await check.CheckHealthAsync(new HealthCheckContext())).Status);
        }
    }

    private static HttpClient Http(GatewayNode node) => new() { BaseAddress = node.BaseUri, Timeout = TimeSpan.FromSeconds(20) };

    private static async Task<(HttpStatusCode Status, string Body)> GetAsync(HttpClient http, string path)
    {
        using var response = await http.GetAsync(new Uri(path, UriKind.Relative));
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    private static async Task WaitForAsync(HttpClient http, HttpStatusCode expected, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        var last = HttpStatusCode.OK;
        for (var i = 0; i < 1000; i++)
        {
            if ((last = (await GetAsync(http, "/healthz")).Status) == expected)
            {
                return;
            }

            Assert.True(DateTime.UtcNow < deadline, $"/healthz answered {(int)last}, not {(int)expected}, for {timeout.TotalSeconds} s");
            await Task.Delay(250);
        }

        Assert.Fail($"/healthz never answered {(int)expected}");
    }

    private sealed class Membership(SiloAddress self, SiloStatus status) : IClusterMembershipService
    {
        public ClusterMembershipSnapshot CurrentSnapshot { get; } = new(
            ImmutableDictionary<SiloAddress, ClusterMember>.Empty.Add(self, new ClusterMember(self, status, "self")),
            new MembershipVersion(1));

        public IAsyncEnumerable<ClusterMembershipSnapshot> MembershipUpdates => throw new NotSupportedException();

        public ValueTask Refresh(MembershipVersion minimumVersion = default, CancellationToken cancellationToken = default) => ValueTask.CompletedTask;

        public Task<bool> TryKill(SiloAddress siloAddress) => Task.FromResult(false);
    }

    private sealed class Silo(SiloAddress self) : ILocalSiloDetails
    {
        public string Name => "self";

        public string ClusterId => "test";

        public string DnsHostName => "localhost";

        public SiloAddress SiloAddress => self;

        public SiloAddress GatewayAddress => self;
    }
}
