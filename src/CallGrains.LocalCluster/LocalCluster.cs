using System.Net.Http.Json;

namespace CallGrains.LocalCluster;

/// <summary>
/// A production-shaped cluster on one machine: a real redis-server and N real host processes using Redis for
/// membership, grain state and reminders, each with its own gateway port. Everything is stopped by PID.
/// </summary>
public sealed class Cluster : IAsyncDisposable
{
    private Cluster(RedisProcess redis, List<HostProcess> hosts, string adminKey, string hostDll, string[] extra)
    {
        Redis = redis;
        Hosts = hosts;
        AdminKey = adminKey;
        HostDll = hostDll;
        Extra = extra;
    }

    private bool _disposed;

    public RedisProcess Redis { get; }

    public List<HostProcess> Hosts { get; }

    public string AdminKey { get; }

    public string HostDll { get; }

    private string[] Extra { get; }

    public static Task<Cluster> StartAsync(int silos = 3, string? hostDll = null, string? adminKey = null, params string[] extra) =>
        StartWithAsync(hostDll, adminKey, extra, cluster => StartAllAsync(cluster.Hosts, silos, cluster.NewHost));

    /// <summary>
    /// The split shape (<c>Orleans:Role</c>): <paramref name="silos"/> grains-only silos (<see cref="Silos"/>) and
    /// <paramref name="edges"/> edge gateways (<see cref="Hosts"/>, the nodes clients connect to), on one Redis.
    /// </summary>
    public static Task<Cluster> StartSplitAsync(int silos = 2, int edges = 2, string? hostDll = null, string? adminKey = null, params string[] extra) =>
        StartWithAsync(hostDll, adminKey, extra, async cluster =>
        {
            await StartAllAsync(cluster.Silos, silos, cluster.NewSilo);
            await StartAllAsync(cluster.Hosts, edges, cluster.NewEdge);
        });

    /// <summary>Redis, then the processes <paramref name="start"/> adds, until the cluster has formed; all stopped on failure.</summary>
    private static async Task<Cluster> StartWithAsync(string? hostDll, string? adminKey, string[] extra, Func<Cluster, Task> start)
    {
        hostDll ??= HostProcess.DefaultHostDll();
        if (!File.Exists(hostDll))
        {
            throw new InvalidOperationException($"no host at {hostDll}: build the solution first");
        }

        adminKey ??= "local-cluster-" + Guid.NewGuid().ToString("N");
        var redis = await RedisProcess.StartAsync();
        var cluster = new Cluster(redis, [], adminKey, hostDll, extra);
        try
        {
            await start(cluster);
            await cluster.WaitFormedAsync(TimeSpan.FromSeconds(90));
            return cluster;
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
    }

    private static async Task StartAllAsync(List<HostProcess> into, int count, Func<HostProcess> start)
    {
        for (var i = 0; i < count; i++)
        {
            into.Add(start());
        }

        await Task.WhenAll(into.Select(h => h.WaitHealthyAsync(TimeSpan.FromSeconds(90))));
    }

    /// <summary>Grains-only silos of a split cluster (<see cref="StartSplitAsync"/>); empty for co-hosted nodes.</summary>
    public List<HostProcess> Silos { get; } = [];

    /// <summary>A grains-only silo of this cluster (health and metrics only, the Orleans client gateway open).</summary>
    public HostProcess NewSilo() => HostProcess.Start(HostDll, [.. HostArgs(), "--Orleans:Role=Silo"], environment: HostEnvironment());

    /// <summary>An edge gateway of this cluster: it finds the silos in the cluster's membership in Redis.</summary>
    public HostProcess NewEdge() => HostProcess.Start(HostDll, [.. HostArgs(), "--Orleans:Role=Edge"], environment: HostEnvironment());

    /// <summary>The arguments every host of this cluster runs with; its secrets are in <see cref="HostEnvironment"/>.</summary>
    public IEnumerable<string> HostArgs() =>
    [
        "--environment=Production",
        "--Orleans:Provider=Redis",
        "--Orleans:ClusterId=local",
        "--Logging:LogLevel:Default=Warning",
        .. Extra,
    ];

    /// <summary>The secrets every host runs with, as environment variables: never on a command line others can read.</summary>
    public IReadOnlyDictionary<string, string> HostEnvironment() => new Dictionary<string, string>
    {
        ["Auth__AdminKey"] = AdminKey,
        ["ConnectionStrings__Redis"] = Redis.ConnectionString,
    };

    public HostProcess NewHost() => HostProcess.Start(HostDll, HostArgs(), environment: HostEnvironment());

    /// <summary>Waits until a user created through each host is visible through every other: the cluster has formed.</summary>
    public async Task WaitFormedAsync(TimeSpan timeout)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        var deadline = DateTime.UtcNow + timeout;
        var live = Hosts.Where(h => !h.HasExited).ToList();
        foreach (var host in live)
        {
            var uid = $"probe-{Guid.NewGuid():N}";
            while (true)
            {
                try
                {
                    using var create = new HttpRequestMessage(HttpMethod.Post, new Uri(host.Url, "/v1/users")) { Content = JsonContent.Create(new { uid, name = "probe" }) };
                    create.Headers.Add("X-Api-Key", AdminKey);
                    using var created = await http.SendAsync(create);
                    var seenEverywhere = true;
                    foreach (var other in live)
                    {
                        using var read = new HttpRequestMessage(HttpMethod.Get, new Uri(other.Url, $"/v1/users/{uid}"));
                        read.Headers.Add("X-Api-Key", AdminKey);
                        using var response = await http.SendAsync(read);
                        seenEverywhere &= response.IsSuccessStatusCode;
                    }

                    if (seenEverywhere)
                    {
                        break;
                    }
                }
                catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
                {
                }

                if (DateTime.UtcNow > deadline)
                {
                    throw new TimeoutException("the cluster did not form");
                }

                await Task.Delay(250);
            }
        }
    }

    /// <summary>Sends SIGKILL to every process of the cluster at once: for a process exit handler, which cannot await.</summary>
    public void KillAll()
    {
        if (_disposed)
        {
            return;
        }

        foreach (var pid in Hosts.Concat(Silos).Where(h => !h.HasExited).Select(h => h.Pid).Append(Redis.Pid))
        {
            try
            {
                System.Diagnostics.Process.GetProcessById(pid).Kill(entireProcessTree: true);
            }
            catch (Exception ex) when (ex is ArgumentException or InvalidOperationException)
            {
                // Already gone.
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        _disposed = true;
        foreach (var host in Hosts.Concat(Silos))
        {
            await host.DisposeAsync();
        }

        await Redis.DisposeAsync();
    }
}
