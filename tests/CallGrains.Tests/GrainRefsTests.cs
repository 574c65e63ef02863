using CallGrains.Abstractions;
using CallGrains.Grains.Storage;

namespace CallGrains.Tests;

/// <summary>The cached grain references every silo and gateway uses name the grains Orleans' GetGrain names.</summary>
[Collection(ClusterGroup.Name)]
public sealed class GrainRefsTests(ClusterFixture fixture)
{
    [Fact]
    public async Task Ref_reaches_the_grain_GetGrain_reaches_for_string_and_integer_keys()
    {
        var grains = fixture.Client;
        var run = Guid.NewGuid().ToString("N")[..8];
        for (var i = 0; i < 5; i++)
        {
            var uid = $"refs-{run}-{i}";
            var cached = grains.Ref<IUserGrain>(uid);
            var plain = grains.GetGrain<IUserGrain>(uid);
            Assert.Equal(plain.GetGrainId(), cached.GetGrainId());
            Assert.Equal(((GrainReference)plain).InterfaceType, ((GrainReference)cached).InterfaceType);

            // The same user, whichever reference is used.
            Assert.True(await cached.Create($"name {i}"));
            Assert.Equal($"name {i}", (await plain.GetProfile())?.Name);

            // Another interface of the same grain class keeps its own interface type.
            Assert.Equal(grains.GetGrain<IUserSlotGrain>(uid).GetGrainId(), grains.Ref<IUserSlotGrain>(uid).GetGrainId());
            Assert.Equal(grains.GetGrain<IMemoryStoreGrain>(i).GetGrainId(), grains.Ref<IMemoryStoreGrain>(i).GetGrainId());
        }

        Assert.ThrowsAny<ArgumentException>(() => grains.Ref<IUserGrain>(" "));
    }
}
