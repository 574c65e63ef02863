using CallGrains.Host.Redis;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using StackExchange.Redis;

namespace CallGrains.Host;

/// <summary>
/// Readiness (<c>/healthz</c>): this node should get traffic only while its silo is an active cluster member, its
/// grain storage answers and it is not shutting down. Liveness (<c>/alive</c>) runs none of these checks, so a Redis
/// outage makes every pod unready (traffic waits) without getting them all restarted.
/// </summary>
public static class Health
{
    /// <summary>How long the storage check waits for Redis before calling it down: well inside a probe's timeout.</summary>
    public static readonly TimeSpan StorageTimeout = TimeSpan.FromSeconds(2);

    /// <param name="role">An edge has no silo: it is ready while its lease is (the gateway adds that check).</param>
    public static IServiceCollection AddCallGrainsHealth(this IServiceCollection services, IConfiguration configuration, NodeRole role = NodeRole.All)
    {
        var checks = services.AddHealthChecks().AddCheck<StoppingCheck>("stopping");
        if (role == NodeRole.Edge)
        {
            return services;
        }

        checks.AddCheck<MembershipCheck>("membership");
        var silo = configuration.GetSection(SiloOptions.Section).Get<SiloOptions>() ?? new SiloOptions();
        if (silo.Provider == SiloProvider.Redis && RedisConnections.From(configuration) is { } redis)
        {
            // Embedded storage lives in the silo: the membership check already says it is up. A separate history Redis
            // is not checked: a node whose history store is down still rings calls (settled calls wait to be archived).
            services.AddSingleton(_ => new RedisStorageCheck(redis.Cluster));
            checks.AddCheck<RedisStorageCheck>("storage");
        }

        return services;
    }
}

/// <summary>
/// Unready from the moment the host starts stopping: the gateway is closing its sockets with 1012 then, and a
/// balancer should stop sending new ones here before the listener goes away.
/// </summary>
public sealed class StoppingCheck(IHostApplicationLifetime lifetime) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(lifetime.ApplicationStopping.IsCancellationRequested
            ? HealthCheckResult.Unhealthy("draining: the host is stopping")
            : HealthCheckResult.Healthy());
}

/// <summary>Ready only while cluster membership lists this silo as Active (not joining, shutting down or declared dead).</summary>
public sealed class MembershipCheck(IClusterMembershipService membership, ILocalSiloDetails silo) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var status = membership.CurrentSnapshot.GetSiloStatus(silo.SiloAddress);
        return Task.FromResult(status == SiloStatus.Active
            ? HealthCheckResult.Healthy()
            : HealthCheckResult.Unhealthy($"silo {silo.SiloAddress} is {status} in cluster membership"));
    }
}

/// <summary>
/// A Redis PING on a connection of its own, built from the silo's Redis options: grain state, membership and the ring
/// deadline index all live there, so a node that cannot reach it cannot serve a call. The connection reconnects by
/// itself, so the node is ready again as soon as Redis is back.
/// </summary>
internal sealed class RedisStorageCheck : IHealthCheck, IAsyncDisposable
{
    private readonly ConfigurationOptions _options;
    private readonly Lock _gate = new();
    private Task<ConnectionMultiplexer>? _connecting;

    public RedisStorageCheck(string connectionString)
    {
        _options = RedisSilo.Options(connectionString).Clone();
        _options.AbortOnConnectFail = false;
        _options.ConnectTimeout = (int)Health.StorageTimeout.TotalMilliseconds;
        _options.AsyncTimeout = (int)Health.StorageTimeout.TotalMilliseconds;
    }

    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            var connection = await ConnectAsync().WaitAsync(Health.StorageTimeout, cancellationToken);
            var latency = await connection.GetDatabase().PingAsync().WaitAsync(Health.StorageTimeout, cancellationToken);
            return HealthCheckResult.Healthy($"Redis answered in {latency.TotalMilliseconds:F1} ms");
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            return HealthCheckResult.Unhealthy("Redis does not answer", ex);
        }
    }

    /// <summary>Connects on first use (AbortOnConnectFail is off, so this completes even while Redis is down).</summary>
    private Task<ConnectionMultiplexer> ConnectAsync()
    {
        lock (_gate)
        {
            if (_connecting is null || _connecting.IsFaulted || _connecting.IsCanceled)
            {
                _connecting = ConnectionMultiplexer.ConnectAsync(_options);
            }

            return _connecting;
        }
    }

    public async ValueTask DisposeAsync()
    {
        Task<ConnectionMultiplexer>? connecting;
        lock (_gate)
        {
            connecting = _connecting;
        }

        if (connecting is { IsCompletedSuccessfully: true })
        {
            await (await connecting).DisposeAsync();
        }
    }
}
