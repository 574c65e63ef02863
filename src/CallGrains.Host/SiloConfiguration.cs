using System.ComponentModel.DataAnnotations;
using System.Net;
using CallGrains.Grains;
using Orleans.Configuration;

namespace CallGrains.Host;

/// <summary>The <c>Orleans</c> section: where this silo listens and which cluster it joins.</summary>
public sealed class SiloOptions
{
    public const string Section = "Orleans";

    /// <summary><c>Embedded</c> (default: all in memory) or <c>Redis</c> (clustering, grain state, reminders).</summary>
    public SiloProvider Provider { get; set; } = SiloProvider.Embedded;

    /// <summary>The address other silos reach this one at (Redis clustering); loopback by default.</summary>
    public string? AdvertisedIP { get; set; }

    public string ClusterId { get; set; } = "callgrains";

    public string ServiceId { get; set; } = "callgrains";

    [Range(1, 65535)]
    public int SiloPort { get; set; } = 11111;

    [Range(1, 65535)]
    public int GatewayPort { get; set; } = 30000;

    /// <summary>Embedded clustering: the silo port of the first silo, for the others to join; empty on the first.</summary>
    [Range(1, 65535)]
    public int? PrimarySiloPort { get; set; }
}

public enum SiloProvider
{
    Embedded = 0,
    Redis = 1,
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
        if (options.Provider == SiloProvider.Redis)
        {
            return silo.AddCallGrainsRedisSilo(options, configuration.GetConnectionString("Redis")
                ?? throw new InvalidOperationException("Orleans:Provider=Redis needs ConnectionStrings:Redis (ConnectionStrings__Redis)"));
        }

        var primary = options.PrimarySiloPort is { } port ? new IPEndPoint(IPAddress.Loopback, port) : null;
        silo.UseLocalhostClustering(options.SiloPort, options.GatewayPort, primary, options.ServiceId, options.ClusterId);
        silo.AddMemoryGrainStorage(StorageNames.Default);
        silo.AddMemoryGrainStorage("PubSubStore");
        silo.UseInMemoryReminderService();
        silo.AddCallGrains();

        // In memory, a reminder cannot outlive the silo it would protect, and the in-memory reminder table is a
        // single grain every call would go through. The grain timer alone times calls out here.
        silo.Services.PostConfigure<CallOptions>(o => o.ReminderBackstop = configuration.GetValue("Calls:ReminderBackstop", false));
        return silo;
    }
}

public static class RedisSiloConfiguration
{
    /// <summary>Production: membership, grain state and reminders in Redis, so any silo may die.</summary>
    public static ISiloBuilder AddCallGrainsRedisSilo(this ISiloBuilder silo, SiloOptions options, string connectionString)
    {
        var redis = StackExchange.Redis.ConfigurationOptions.Parse(connectionString);
        silo.UseRedisClustering(o => o.ConfigurationOptions = redis);
        silo.Configure<ClusterOptions>(o =>
        {
            o.ClusterId = options.ClusterId;
            o.ServiceId = options.ServiceId;
        });
        var advertised = options.AdvertisedIP is { Length: > 0 } ip ? IPAddress.Parse(ip) : IPAddress.Loopback;
        silo.ConfigureEndpoints(advertised, options.SiloPort, options.GatewayPort, listenOnAnyHostAddress: options.AdvertisedIP is { Length: > 0 });
        silo.AddCallGrainsRedisStorage(connectionString);
        silo.AddCallGrains();
        return silo;
    }
}
