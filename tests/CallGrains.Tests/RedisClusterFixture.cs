using CallGrains.Grains;
using CallGrains.Host.Redis;
using CallGrains.LocalCluster;
using Microsoft.Extensions.DependencyInjection;
using Orleans.TestingHost;

namespace CallGrains.Tests;

/// <summary>
/// Three silos in one process whose grain state and indexes live in a real redis-server, as in production: what a
/// test kills dies, and what must survive it is outside the silos. Each test class gets its own (it kills silos).
/// </summary>
public abstract class RedisClusterTest : IAsyncLifetime
{
    private RedisProcess _redis = null!;

    protected InProcessTestCluster Cluster { get; private set; } = null!;

    protected string RedisConnectionString => _redis.ConnectionString;

    /// <summary>Options for this class's cluster; the stale-slot fallback is off so only the mechanism under test frees anyone.</summary>
    protected virtual void Configure(CallOptions options) => options.StaleRingSlackSeconds = 3600;

    public async Task InitializeAsync()
    {
        _redis = await RedisProcess.StartAsync();
        var builder = new InProcessTestClusterBuilder(3);
        builder.ConfigureSilo((_, silo) =>
        {
            silo.AddCallGrainsRedisStorage(_redis.ConnectionString);
            silo.AddCallGrains();
            silo.Services.PostConfigure<CallOptions>(ClusterFixture.RaiseQuotas);
            silo.Services.PostConfigure<CallOptions>(Configure);
        });
        Cluster = builder.Build();
        await Cluster.DeployAsync();
    }

    public async Task DisposeAsync()
    {
        await Cluster.StopAllSilosAsync();
        await Cluster.DisposeAsync();
        await _redis.DisposeAsync();
    }
}
