using CallGrains.Gateway.Tests;
using Xunit.Abstractions;

namespace CallGrains.Cluster.Tests;

/// <summary>The chaos test on the co-hosted shape: three hosts that each hold sockets and grains; two of them are killed.</summary>
public sealed class ChaosTests(ITestOutputHelper output) : ChaosTestsBase(output)
{
    protected override string Shape => "3 co-hosted hosts";

    protected override IReadOnlyList<KillTarget> Kills => [KillTarget.SocketNode, KillTarget.SocketNode];

    protected override Task<LocalCluster.Cluster> StartClusterAsync(string[] settings) =>
        LocalCluster.Cluster.StartAsync(3, adminKey: Admin.DefaultKey, extra: settings);
}
