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
