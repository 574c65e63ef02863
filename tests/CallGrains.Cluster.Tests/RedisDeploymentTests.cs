using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using CallGrains.Gateway.Tests;
using CallGrains.LocalCluster;
using StackExchange.Redis;

namespace CallGrains.Cluster.Tests;

/// <summary>
/// Issue 19, item 5, on real redis-servers: call history on a Redis of its own (ConnectionStrings:RedisHistory), and
/// Redis run with the settings deploy/k8s/redis.yaml ships (an ACL user with a password, maxmemory, an eviction policy
/// per kind of data).
/// </summary>
public sealed partial class RedisDeploymentTests : IAsyncLifetime
{
    private readonly List<IAsyncDisposable> _started = [];

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var process in Enumerable.Reverse(_started))
        {
            await process.DisposeAsync();
        }
    }

    [Fact]
    public async Task History_goes_only_to_the_history_redis_and_membership_and_state_only_to_the_cluster_redis()
    {
        var cluster = Keep(await RedisProcess.StartAsync());
        var history = Keep(await RedisProcess.StartAsync());
        var host = Keep(HostProcess.Start(HostProcess.DefaultHostDll(), HostArgs(cluster.ConnectionString, $"--ConnectionStrings:RedisHistory={history.ConnectionString}")));
        await host.WaitHealthyAsync(TimeSpan.FromSeconds(90));

        var sessionId = await CallAndEndAsync(host.Url);

        var onCluster = await KeysAsync(cluster.ConnectionString);
        var onHistory = await KeysAsync(history.ConnectionString);
        Assert.Contains($"callgrains:callgrains:call:{sessionId}", onHistory);
        Assert.Contains(onHistory, k => k.StartsWith("callgrains:callgrains:log:", StringComparison.Ordinal));
        Assert.All(onHistory, k => Assert.Matches(HistoryKey(), k));
        Assert.DoesNotContain(onCluster, HistoryKey().IsMatch);
        Assert.Contains(onCluster, k => k.StartsWith("callgrains/members/", StringComparison.Ordinal));
        Assert.Contains(onCluster, k => k.StartsWith("callgrains/state/user/", StringComparison.Ordinal));
    }

    [Fact]
    public async Task The_shipped_cluster_redis_refuses_strangers_serves_a_host_with_the_password_and_refuses_writes_when_full()
    {
        var password = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));
        var settings = ShippedSettings("redis", password);
        Assert.Equal("noeviction", After(settings, "--maxmemory-policy"));
        var redis = Keep(await RedisProcess.StartAsync(null, settings));

        // Without the password Redis answers nothing but NOAUTH.
        Assert.StartsWith("-NOAUTH", await RawAsync(redis.Port, "PING"), StringComparison.Ordinal);

        // A host with the user and password in its connection string works; one without stops at once and says why.
        var withPassword = $"{redis.ConnectionString},user=callgrains,password={password}";
        var host = Keep(HostProcess.Start(HostProcess.DefaultHostDll(), HostArgs(withPassword)));
        await host.WaitHealthyAsync(TimeSpan.FromSeconds(90));
        await CallAndEndAsync(host.Url);
        var stranger = Keep(HostProcess.Start(HostProcess.DefaultHostDll(), HostArgs(redis.ConnectionString)));
        Assert.True(await stranger.WaitForExitAsync(TimeSpan.FromSeconds(60)), "the host without the password exits");
        Assert.Contains(stranger.Output, l => l.Contains("refused the credentials", StringComparison.Ordinal));

        // Full (the shipped settings with a small maxmemory): a write fails loudly and nothing stored is evicted.
        var small = Keep(await RedisProcess.StartAsync(null, With(settings, "--maxmemory", "3mb")));
        await using var connection = await ConnectionMultiplexer.ConnectAsync($"{small.ConnectionString},user=callgrains,password={password}");
        var db = connection.GetDatabase();
        var written = 0;
        var refused = await Assert.ThrowsAsync<RedisServerException>(async () =>
        {
            for (; written < 1000; written++)
            {
                await db.StringSetAsync($"state:{written}", new byte[64 * 1024]);
            }
        });
        Assert.StartsWith("OOM", refused.Message, StringComparison.Ordinal);
        Assert.InRange(written, 1, 999);
        for (var i = 0; i < written; i++)
        {
            Assert.True(await db.KeyExistsAsync($"state:{i}"), $"state:{i} was evicted");
        }
    }

    [Fact]
    public async Task The_shipped_history_redis_when_full_drops_the_history_nearest_expiry_and_keeps_taking_writes()
    {
        var password = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));
        var settings = ShippedSettings("redis-history", password);
        var redis = Keep(await RedisProcess.StartAsync(null, With(settings, "--maxmemory", "3mb")));
        await using var connection = await ConnectionMultiplexer.ConnectAsync($"{redis.ConnectionString},user=callgrains,password={password}");
        var db = connection.GetDatabase();

        // Entries as history writes them: each with an expiry, older calls expiring sooner.
        const int Entries = 200;
        for (var i = 0; i < Entries; i++)
        {
            await db.StringSetAsync($"history:{i}", new byte[64 * 1024], TimeSpan.FromDays(1) + TimeSpan.FromMinutes(i));
        }

        Assert.False(await db.KeyExistsAsync("history:0"));
        Assert.True(await db.KeyExistsAsync($"history:{Entries - 1}"));
    }

    private T Keep<T>(T process)
        where T : IAsyncDisposable
    {
        _started.Add(process);
        return process;
    }

    private static string[] HostArgs(string redis, params string[] more) =>
    [
        "--environment=Production", $"--Auth:AdminKey={Admin.DefaultKey}", "--Orleans:Provider=Redis", $"--ConnectionStrings:Redis={redis}",
        "--Orleans:ClusterId=deploy", "--Logging:LogLevel:Default=Warning", .. more,
    ];

    /// <summary>The arguments deploy/k8s/redis.yaml gives the named StatefulSet's redis-server, with the password Kubernetes would put in.</summary>
    private static string[] ShippedSettings(string statefulSet, string password) =>
    [
        .. DeployFiles.Kubernetes().Named("StatefulSet", statefulSet).Container()["args"].Strings()
            .Select(a => a.Replace("$(REDIS_PASSWORD)", password, StringComparison.Ordinal)),
    ];

    private static string After(string[] settings, string name) => settings[Array.IndexOf(settings, name) + 1];

    private static string[] With(string[] settings, string name, string value)
    {
        var changed = settings.ToArray();
        Assert.True(Array.IndexOf(changed, name) >= 0, $"{name} is not set");
        changed[Array.IndexOf(changed, name) + 1] = value;
        return changed;
    }

    /// <summary>Two users call, answer and hang up; returns the call's id once the callee's history lists it.</summary>
    private static async Task<string> CallAndEndAsync(Uri host)
    {
        using var admin = new Admin(host);
        var users = await admin.UsersAsync(2, "redis");
        await using var a = await WsClient.ConnectAsync(host, users[0].Uid, users[0].Token, "a");
        await using var b = await WsClient.ConnectAsync(host, users[1].Uid, users[1].Token, "b");
        var sessionId = (await a.CallAsync(b.Uid)).SessionId();
        await b.EventAsync(0, "incomingCallReceived");
        Assert.True((await b.RequestAsync("acceptCall", new { sessionId })).IsOk());
        Assert.True((await a.RequestAsync("endCall", new { sessionId })).IsOk());
        await Eventually.Async(
            async () =>
            {
                using var log = await admin.SendAsync(HttpMethod.Get, "/v1/calls", apiKey: null, bearer: users[1].Token);
                return log.StatusCode == HttpStatusCode.OK && (await log.Content.ReadAsStringAsync()).Contains(sessionId, StringComparison.Ordinal);
            },
            "the call in the callee's history",
            TimeSpan.FromSeconds(30));
        return sessionId;
    }

    private static async Task<List<string>> KeysAsync(string connectionString)
    {
        await using var redis = await ConnectionMultiplexer.ConnectAsync(connectionString);
        List<string> keys = [];
        await foreach (var key in redis.GetServer(redis.GetEndPoints()[0]).KeysAsync(pattern: "*", pageSize: 1000))
        {
            keys.Add(key.ToString());
        }

        return keys;
    }

    private static async Task<string> RawAsync(int port, string command)
    {
        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, port);
        var stream = client.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes(command + "\r\n"));
        var buffer = new byte[256];
        var read = await stream.ReadAsync(buffer).AsTask().WaitAsync(TimeSpan.FromSeconds(10));
        return Encoding.ASCII.GetString(buffer, 0, read);
    }

    [GeneratedRegex("^callgrains:[^:]+:(call|log):")]
    private static partial Regex HistoryKey();
}
