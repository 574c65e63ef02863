using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Time.Testing;

namespace CallGrains.Gateway.Tests;

/// <summary>
/// A node behind a proxy on 127.0.0.1 (<c>Gateway:KnownProxies</c>), signing auth tokens with key <c>k2</c> while
/// still accepting <c>k1</c>, with a readiness check that counts its runs, on a clock the tests move; 5 HTTP requests
/// at once per user or address, then 1/s.
/// </summary>
public sealed class SecurityNode : NodeFixture
{
    public const string NewKey = "security-node-new-key-k2-0123456789abcdef";
    public const string OldKey = "security-node-old-key-k1-fedcba9876543210";
    public const string CallKey = "security-node-call-key-c1-a1b2c3d4e5f6a7b8";

    public FakeTimeProvider Clock { get; } = new(DateTimeOffset.UtcNow);

    public CountingCheck Check { get; } = new();

    public void RefillBuckets() => Clock.Advance(TimeSpan.FromMinutes(1));

    protected override Task<GatewayNode> StartAsync() =>
        GatewayNode.StartWithAsync(
            builder =>
            {
                builder.Services.AddKeyedSingleton<TimeProvider>(GatewayHosting.ClockKey, Clock);
                builder.Services.AddHealthChecks().AddCheck("counting", Check);
            },
            "--Gateway:KnownProxies:0=127.0.0.1",
            "--Gateway:RestRequestsPerSecond=1",
            "--Gateway:RestBurst=5",
            "--Auth:TokenKeys:0:Id=k2",
            $"--Auth:TokenKeys:0:Key={NewKey}",
            "--Auth:TokenKeys:1:Id=k1",
            $"--Auth:TokenKeys:1:Key={OldKey}",
            "--Auth:CallTokenKeys:0:Id=c1",
            $"--Auth:CallTokenKeys:0:Key={CallKey}");

    public sealed class CountingCheck : IHealthCheck
    {
        private int _runs;

        public int Runs => Volatile.Read(ref _runs);

        public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
        {
            Interlocked.Increment(ref _runs);
            return Task.FromResult(HealthCheckResult.Healthy());
        }
    }
}

[CollectionDefinition(Name)]
public sealed class SecurityGroup : ICollectionFixture<SecurityNode>
{
    public const string Name = "security node";
}
