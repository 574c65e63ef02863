using CallGrains.Grains;
using Microsoft.Extensions.DependencyInjection;
using Orleans.TestingHost;

namespace CallGrains.Tests;

/// <summary>
/// Two silos in one process with the embedded providers, plus a client. Tests subscribe to the first silo's gateway
/// stream in place of the gateway. The default ring timeout is 2 s so timeout tests are short; other tests ask for 60 s.
/// </summary>
public sealed class ClusterFixture : IAsyncLifetime
{
    public const int DefaultRingTimeoutSeconds = 2;

    public const int DisconnectGraceSeconds = 1;

    public InProcessTestCluster Cluster { get; private set; } = null!;

    public IClusterClient Client => Cluster.Client;

    public async Task InitializeAsync()
    {
        var builder = new InProcessTestClusterBuilder(2);
        builder.ConfigureSilo((_, silo) => AddEmbeddedCallGrains(silo));
        Cluster = builder.Build();
        await Cluster.DeployAsync();
    }

    /// <summary>The embedded providers, with the short ring timeout and disconnect grace the tests count on.</summary>
    public static void AddEmbeddedCallGrains(ISiloBuilder silo)
    {
        silo.AddCallGrainsMemoryStorage();
        silo.AddCallGrains();
        silo.Services.PostConfigure<CallOptions>(o =>
        {
            o.RingTimeoutSeconds = DefaultRingTimeoutSeconds;
            o.DisconnectGraceSeconds = DisconnectGraceSeconds;
            RaiseQuotas(o);
        });
    }

    /// <summary>The abuse quotas out of the way: tests start many calls per user (QuotaTests keep the defaults).</summary>
    public static void RaiseQuotas(CallOptions o)
    {
        o.InitiatesPerMinute = o.InitiateBurst = LocalCluster.LoadSettings.Raised;
        o.MaxUnansweredFromCallerPerDay = LocalCluster.LoadSettings.Raised;
        o.GroupCallsPerMinute = o.GroupCallBurst = LocalCluster.LoadSettings.Raised;
    }

    public async Task DisposeAsync()
    {
        await Cluster.StopAllSilosAsync();
        await Cluster.DisposeAsync();
    }
}

[CollectionDefinition(Name)]
public sealed class ClusterGroup : ICollectionFixture<ClusterFixture>
{
    public const string Name = "cluster";
}
