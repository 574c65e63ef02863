using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Orleans.Configuration;

namespace CallGrains.Gateway.Tests;

/// <summary>
/// The grain directory cache is bounded by <c>Orleans:DirectoryCacheSize</c>: with Orleans' default it kept the location
/// of every call session for the first million calls (docs/benchmarks.md, "Memory over time").
/// </summary>
[Collection(TwoNodeGroup.Name)]
public sealed class DirectoryCacheTests(TwoNodeFixture cluster)
{
    [Fact]
    public async Task The_directory_cache_is_bounded_by_default_and_by_configuration()
    {
        Assert.Equal(20_000, cluster.A.Services.GetRequiredService<IOptions<GrainDirectoryOptions>>().Value.CacheSize);

        await using var node = await GatewayNode.StartAsync(null, null, "--Orleans:DirectoryCacheSize=500");
        Assert.Equal(500, node.Services.GetRequiredService<IOptions<GrainDirectoryOptions>>().Value.CacheSize);
    }
}
