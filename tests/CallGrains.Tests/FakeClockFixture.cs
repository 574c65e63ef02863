using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Time.Testing;
using Orleans.TestingHost;

namespace CallGrains.Tests;

/// <summary>
/// A two-silo cluster like <see cref="ClusterFixture"/> whose grains run on a fake clock: ring deadlines, the
/// disconnect grace and the grain timers that enforce them move only when a test advances <see cref="Clock"/>, so
/// "not yet" and "exactly at" hold on a machine of any speed. Orleans 10 drives grain timers from the unkeyed
/// <see cref="TimeProvider"/> (keyed <c>TimeProviderNames.Grains</c>); every other area of the silo (membership,
/// messaging timeouts, activation collection) is pinned to real time, as Orleans' own fake-clock tests do.
/// </summary>
public class FakeClockFixture : IAsyncLifetime
{
    public const int DefaultRingTimeoutSeconds = ClusterFixture.DefaultRingTimeoutSeconds;

    public const int DisconnectGraceSeconds = ClusterFixture.DisconnectGraceSeconds;

    /// <summary>A group call's idle end, shorter than the default so it is told apart from it.</summary>
    public const int IdleSessionEndSeconds = 120;

    public FakeTimeProvider Clock { get; } = new(DateTimeOffset.UtcNow);

    public InProcessTestCluster Cluster { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        var builder = new InProcessTestClusterBuilder(2);
        builder.ConfigureSilo((_, silo) =>
        {
            silo.Services.Replace(ServiceDescriptor.Singleton<TimeProvider>(Clock));
            silo.Services.UseTimeProviderForBackgroundAreas(TimeProvider.System);
            ClusterFixture.AddEmbeddedCallGrains(silo);
            silo.Services.PostConfigure<CallGrains.Grains.CallOptions>(Configure);
        });
        Cluster = builder.Build();
        await Cluster.DeployAsync();
    }

    /// <summary>The options of this cluster, after <see cref="ClusterFixture.AddEmbeddedCallGrains"/>'s.</summary>
    protected virtual void Configure(CallGrains.Grains.CallOptions options) => options.IdleSessionEndSeconds = IdleSessionEndSeconds;

    /// <summary>
    /// Moves the clock on. Due grain timers are handed to their grains during the call; what they do happens after,
    /// so assert outcomes with <see cref="CallTestKit.EventuallyAsync"/>.
    /// </summary>
    public async Task AdvanceAsync(TimeSpan by) =>
        // Off the test's thread, with a bound, in case a timer callback ever ran inline and blocked.
        await Task.Run(() => Clock.Advance(by)).WaitAsync(TimeSpan.FromSeconds(60));

    public async Task DisposeAsync()
    {
        await Cluster.StopAllSilosAsync();
        await Cluster.DisposeAsync();
    }
}

[CollectionDefinition(Name)]
public sealed class FakeClockGroup : ICollectionFixture<FakeClockFixture>
{
    public const string Name = "fake clock";
}

/// <summary>A fake-clock cluster with the abuse quotas at their defaults, for the tests about them.</summary>
public sealed class QuotaFixture : FakeClockFixture
{
    protected override void Configure(CallGrains.Grains.CallOptions options)
    {
        base.Configure(options);
        var defaults = new CallGrains.Grains.CallOptions();
        options.InitiatesPerMinute = defaults.InitiatesPerMinute;
        options.InitiateBurst = defaults.InitiateBurst;
        options.MaxUnansweredFromCallerPerDay = defaults.MaxUnansweredFromCallerPerDay;
        options.GroupCallsPerMinute = defaults.GroupCallsPerMinute;
        options.GroupCallBurst = defaults.GroupCallBurst;
    }
}

[CollectionDefinition(Name)]
public sealed class QuotaGroup : ICollectionFixture<QuotaFixture>
{
    public const string Name = "quota";
}
