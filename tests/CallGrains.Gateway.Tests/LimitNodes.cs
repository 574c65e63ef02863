using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace CallGrains.Gateway.Tests;

/// <summary>One node of its own for a collection of tests, with the admin API at hand.</summary>
public abstract class NodeFixture : IAsyncLifetime
{
    public GatewayNode Node { get; private set; } = null!;

    public Admin Admin { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Node = await StartAsync();
        Admin = new Admin(Node.BaseUri);
    }

    public async Task DisposeAsync()
    {
        Admin.Dispose();
        await Node.DisposeAsync();
    }

    protected abstract Task<GatewayNode> StartAsync();
}

/// <summary>
/// A node whose gateway runs on a clock the tests move (rate limits, token expiry), with limits small enough to
/// count: 20 messages at once on a socket then 10/s; 5 HTTP requests at once per user or address then 1/s; 40 admin
/// requests at once then 1/s; tokens live 10 minutes; browsers only from https://app.example.com.
/// </summary>
public sealed class FakeClockNode : NodeFixture
{
    public const string AllowedOrigin = "https://app.example.com";

    // Starts at the real time (only the gateway runs on it; the silo keeps the real clock).
    public FakeTimeProvider Clock { get; } = new(DateTimeOffset.UtcNow);

    /// <summary>Moves the clock far enough that every bucket is full again: what a test counts starts from the burst.</summary>
    public void RefillBuckets() => Clock.Advance(TimeSpan.FromMinutes(1));

    protected override Task<GatewayNode> StartAsync() =>
        GatewayNode.StartWithAsync(
            builder => builder.Services.AddKeyedSingleton<TimeProvider>(GatewayHosting.ClockKey, Clock),
            "--Gateway:MessagesPerSecond=10",
            "--Gateway:MessageBurst=20",
            "--Gateway:RestRequestsPerSecond=1",
            "--Gateway:RestBurst=5",
            "--Gateway:AdminRequestsPerSecond=1",
            "--Gateway:AdminBurst=40",
            $"--Gateway:AllowedOrigins:0={AllowedOrigin}",
            "--Auth:TokenLifetime=00:10:00");
}

[CollectionDefinition(Name)]
public sealed class FakeClockGroup : ICollectionFixture<FakeClockNode>
{
    public const string Name = "fake clock node";
}

/// <summary>
/// A node on the real clock for traffic-heavy tests: no practical message rate limit, a send queue bounded by
/// bytes (256 KiB) long before it is by count, two minutes before a silent peer is dropped.
/// </summary>
public sealed class BusyNode : NodeFixture
{
    public const int SendQueueBytes = 256 * 1024;

    protected override Task<GatewayNode> StartAsync() =>
        GatewayNode.StartAsync(
            null,
            null,
            "--Gateway:MessagesPerSecond=100000",
            "--Gateway:MessageBurst=100000",
            "--Gateway:SendQueueLimit=100000",
            $"--Gateway:SendQueueBytesLimit={SendQueueBytes}",
            // A client that stopped reading has this long to take its close frame: room for a slow machine.
            "--Gateway:IdleTimeoutSeconds=120");
}

[CollectionDefinition(Name)]
public sealed class BusyGroup : ICollectionFixture<BusyNode>
{
    public const string Name = "busy node";
}
