using System.ComponentModel.DataAnnotations;
using System.Net;
using CallGrains.Grains;
using CallGrains.Host.Redis;
using Orleans.Configuration;

namespace CallGrains.Host;

/// <summary>The <c>Orleans</c> section: where this silo listens and which cluster it joins.</summary>
public sealed class SiloOptions
{
    public const string Section = "Orleans";

    /// <summary><c>Embedded</c> (default: all in memory) or <c>Redis</c> (clustering, grain state, indexes, call history).</summary>
    public SiloProvider Provider { get; set; } = SiloProvider.Embedded;

    /// <summary>
    /// <c>All</c> (default: a silo and the gateway in one process), <c>Silo</c> (grains only: no public API, health and
    /// metrics only, the Orleans client gateway open for edges) or <c>Edge</c> (the WebSocket gateway and REST API as
    /// an Orleans client: no grains, no state).
    /// </summary>
    public NodeRole Role { get; set; } = NodeRole.All;

    /// <summary>
    /// An edge with the embedded provider: the silos' Orleans client gateway ports on this machine
    /// (<c>30000,30001</c>). With Redis an edge finds the silos in the cluster's membership.
    /// </summary>
    public string? SiloGatewayPorts { get; set; }

    /// <summary>
    /// The address other silos reach this one at (Redis clustering): an IP, or <c>auto</c> for this machine's first
    /// non-loopback IPv4 address (containers); loopback when not set.
    /// </summary>
    public string? AdvertisedIP { get; set; }

    /// <summary>On Kubernetes: let Microsoft.Orleans.Hosting.Kubernetes take the pod's identity and watch pods.</summary>
    public bool Kubernetes { get; set; }

    public string ClusterId { get; set; } = "callgrains";

    public string ServiceId { get; set; } = "callgrains";

    [Range(1, 65535)]
    public int SiloPort { get; set; } = 11111;

    /// <summary>
    /// The Orleans client gateway (silo-to-client port), where edges connect. A co-hosted gateway needs no port, so
    /// with <c>Role=All</c> unset or 0 opens no such listener; with <c>Role=Silo</c> unset means 30000.
    /// </summary>
    [Range(0, 65535)]
    public int? GatewayPort { get; set; }

    /// <summary>
    /// How long a probe of another silo may go unanswered. With <see cref="MissedProbesLimit"/> and two votes this
    /// sets how soon a dead silo is declared dead and its calls move (docs/architecture.md).
    /// </summary>
    [Range(1, 60)]
    public int ProbeTimeoutSeconds { get; set; } = 2;

    [Range(1, 10)]
    public int MissedProbesLimit { get; set; } = 3;

    /// <summary>
    /// Grain locations each silo caches. Orleans' default (1,000,000) fills with the location of every call session
    /// ever looked up, one per call, long after the session has gone: about 100 bytes a call for the first million
    /// calls. Live grains are users and ringing or ongoing calls; this many entries covers them on a busy silo.
    /// </summary>
    [Range(100, 1_000_000)]
    public int DirectoryCacheSize { get; set; } = 20_000;

    /// <summary>The Orleans client gateway port this silo opens; 0 for none.</summary>
    public int EffectiveGatewayPort => GatewayPort ?? (Role == NodeRole.Silo ? DefaultGatewayPort : 0);

    public const int DefaultGatewayPort = 30000;

    /// <summary>Embedded clustering: the silo port of the first silo, for the others to join; empty on the first.</summary>
    [Range(1, 65535)]
    public int? PrimarySiloPort { get; set; }
}

public enum SiloProvider
{
    Embedded = 0,
    Redis = 1,
}

public enum NodeRole
{
    All = 0,
    Silo = 1,
    Edge = 2,
}

public static class SiloConfiguration
{
    /// <summary>
    /// The embedded default: everything in memory, nothing to install; several silos on one machine can form a
    /// cluster around the first one (<c>Orleans:PrimarySiloPort</c>). Redis clustering for production is chosen by
    /// configuration with the production-cluster work.
    /// </summary>
    public static ISiloBuilder AddCallGrainsSilo(this ISiloBuilder silo, IConfiguration configuration)
    {
        var options = configuration.GetSection(SiloOptions.Section).Get<SiloOptions>() ?? new SiloOptions();
        if (Tracing.Enabled(configuration))
        {
            silo.AddActivityPropagation();
        }

        silo.Configure<ClusterMembershipOptions>(o =>
        {
            // Orleans' defaults (10 s probes, 3 misses) take over half a minute to declare a silo dead: too long for
            // calls that ring for 45 s. 2 s x 3 misses, two votes: about 6-10 s.
            o.ProbeTimeout = TimeSpan.FromSeconds(options.ProbeTimeoutSeconds);
            o.NumMissedProbesLimit = options.MissedProbesLimit;
            o.NumVotesForDeathDeclaration = 2;
            o.IAmAliveTablePublishTimeout = TimeSpan.FromSeconds(10);
        });
        silo.Configure<GrainDirectoryOptions>(o => o.CacheSize = options.DirectoryCacheSize);
        if (options.Provider == SiloProvider.Redis)
        {
            return silo.AddCallGrainsRedisSilo(options, RedisConnections.From(configuration)
                ?? throw new InvalidOperationException("Orleans:Provider=Redis needs ConnectionStrings:Redis (ConnectionStrings__Redis)"));
        }

        var primary = options.PrimarySiloPort is { } port ? new IPEndPoint(IPAddress.Loopback, port) : null;
        silo.UseLocalhostClustering(options.SiloPort, options.EffectiveGatewayPort, primary, options.ServiceId, options.ClusterId);
        silo.AddCallGrainsMemoryStorage();
        // In memory nothing can outlive the one silo, so ringing calls have their grain timers and no backstop.
        silo.AddCallGrains();
        return silo;
    }
}

public static class RedisSiloConfiguration
{
    /// <summary>Production: membership, grain state, indexes and call history in Redis, so any silo may die.</summary>
    public static ISiloBuilder AddCallGrainsRedisSilo(this ISiloBuilder silo, SiloOptions options, RedisConnections connections)
    {
        var redis = RedisSilo.Options(connections.Cluster);
        silo.UseRedisClustering(o => o.ConfigurationOptions = redis);
        silo.Configure<ClusterOptions>(o =>
        {
            o.ClusterId = options.ClusterId;
            o.ServiceId = options.ServiceId;
        });
        var gatewayPort = options.EffectiveGatewayPort;
        if (options.Kubernetes)
        {
            // The address, cluster and service ids come from the pod (POD_IP, ORLEANS_CLUSTER_ID, ...); the ports from
            // here, so the client gateway stays closed unless asked for (Kubernetes hosting opens 30000 by default).
            silo.Configure<EndpointOptions>(o => (o.SiloPort, o.GatewayPort) = (options.SiloPort, gatewayPort));
            silo.UseKubernetesHosting();
        }
        else
        {
            var advertised = options.AdvertisedIP switch
            {
                null or "" => IPAddress.Loopback,
                "auto" => FirstNonLoopbackIPv4(),
                var ip => IPAddress.Parse(ip),
            };

            // Not ConfigureEndpoints: listening on any address, it would set a gateway listening endpoint even for port 0.
            var any = !IPAddress.IsLoopback(advertised);
            silo.Configure<EndpointOptions>(o =>
            {
                (o.AdvertisedIPAddress, o.SiloPort, o.GatewayPort) = (advertised, options.SiloPort, gatewayPort);
                o.SiloListeningEndpoint = any ? new IPEndPoint(IPAddress.Any, options.SiloPort) : null;
                o.GatewayListeningEndpoint = any && gatewayPort > 0 ? new IPEndPoint(IPAddress.Any, gatewayPort) : null;
            });
        }

        silo.AddCallGrainsRedisStorage(connections.Cluster, connections.History);
        silo.AddCallGrains();
        return silo;
    }

    private static IPAddress FirstNonLoopbackIPv4() =>
        System.Net.NetworkInformation.NetworkInterface.GetAllNetworkInterfaces()
            .Where(n => n.OperationalStatus == System.Net.NetworkInformation.OperationalStatus.Up)
            .SelectMany(n => n.GetIPProperties().UnicastAddresses)
            .Select(a => a.Address)
            .FirstOrDefault(a => a.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork && !IPAddress.IsLoopback(a))
            ?? throw new InvalidOperationException("Orleans:AdvertisedIP=auto found no non-loopback IPv4 address");
}
