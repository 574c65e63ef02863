using CallGrains.Abstractions;
using CallGrains.Grains;
using CallGrains.Grains.History;
using CallGrains.Host.Redis;
using Orleans.Configuration;

namespace CallGrains.Host;

/// <summary>
/// An edge node's Orleans client (<c>Orleans:Role=Edge</c>): it finds the silos through the cluster's membership (Redis)
/// or the given gateway ports (embedded), waits for them at start, and follows them as they come and go.
/// </summary>
public static class EdgeClient
{
    /// <summary>How often the client reads the list of silo gateways again (Orleans' default is a minute).</summary>
    public static readonly TimeSpan GatewayListRefresh = TimeSpan.FromSeconds(5);

    public static void Add(WebApplicationBuilder builder, SiloOptions options)
    {
        builder.UseOrleansClient(client =>
        {
            if (options.Provider == SiloProvider.Redis)
            {
                var connections = RedisConnections.From(builder.Configuration)
                    ?? throw new InvalidOperationException("Orleans:Provider=Redis needs ConnectionStrings:Redis (ConnectionStrings__Redis)");
                var redis = RedisSilo.Options(connections.Cluster);
                client.UseRedisClustering(o => o.ConfigurationOptions = redis);
                client.Configure<ClusterOptions>(o => (o.ClusterId, o.ServiceId) = (options.ClusterId, options.ServiceId));
            }
            else
            {
                var ports = (options.SiloGatewayPorts ?? SiloOptions.DefaultGatewayPort.ToString(System.Globalization.CultureInfo.InvariantCulture))
                    .Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                    .Select(p => int.TryParse(p, out var port) && port is > 0 and < 65536 ? port
                        : throw new InvalidOperationException($"Orleans:SiloGatewayPorts: '{p}' is not a port"))
                    .ToArray();
                client.UseLocalhostClustering(ports, options.ServiceId, options.ClusterId);
            }

            client.Configure<GatewayOptions>(o => o.GatewayListRefreshPeriod = GatewayListRefresh);

            // The silos may start after the edge, or be restarting: keep trying, a second apart, until the host stops.
            client.UseConnectionRetryFilter(async (_, cancellationToken) =>
            {
                await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken);
                return true;
            });
        });

        builder.Services.AddOptions<CallOptions>().BindConfiguration(CallOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddSingleton(new GatewayIdentity(EdgeIds.New(DateTimeOffset.UtcNow)));
        builder.Services.AddSingleton<ICallLog, ClusterCallLog>();
    }
}
