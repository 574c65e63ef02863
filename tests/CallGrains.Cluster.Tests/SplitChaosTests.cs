using CallGrains.Gateway.Tests;
using Xunit.Abstractions;

namespace CallGrains.Cluster.Tests;

/// <summary>
/// The chaos test on the split shape (issue 23): clients on 2 edges, grains on 2 silos. An edge is killed (its users'
/// sockets die with it), then a silo (no socket may close; its grains come back on the other silo from Redis).
/// </summary>
public sealed class SplitChaosTests(ITestOutputHelper output) : ChaosTestsBase(output)
{
    protected override string Shape => "2 edges (sockets) + 2 silos (grains)";

    protected override IReadOnlyList<KillTarget> Kills => [KillTarget.SocketNode, KillTarget.Silo];

    protected override Task<LocalCluster.Cluster> StartClusterAsync(string[] settings) =>
        LocalCluster.Cluster.StartSplitAsync(2, 2, adminKey: Admin.DefaultKey, extra: settings);
}
