using CallGrains.Abstractions;
using Orleans.Concurrency;
using Orleans.Storage;

namespace CallGrains.Grains.Storage;

/// <summary>One shard of the embedded default's grain state: serialized states by key, with their etags.</summary>
[Alias("cg.IMemoryStoreGrain")]
public interface IMemoryStoreGrain : IGrainWithIntegerKey
{
    [Alias("Read")]
    Task<StoredState?> Read(string key);

    /// <summary>Stores <paramref name="data"/> if <paramref name="etag"/> is the stored one (or nothing is stored); returns the new etag.</summary>
    [Alias("Write")]
    Task<string> Write(string key, byte[] data, string? etag);

    /// <summary>As <see cref="Write"/>, for a state of an immutable type: kept as it is, never serialized within a silo.</summary>
    [Alias("WriteValue")]
    Task<string> WriteValue(string key, Immutable<object> value, string? etag);

    /// <summary>Deletes the state if <paramref name="etag"/> is the stored one; the key is forgotten.</summary>
    [Alias("Delete")]
    Task Delete(string key, string? etag);

    /// <summary>How many states this shard holds whose key starts with <paramref name="prefix"/> (grain type, say): for operators and tests.</summary>
    [Alias("Count")]
    Task<int> Count(string prefix);
}

[GenerateSerializer, Immutable, Alias("cg.StoredState")]
public sealed record StoredState([property: Id(0)] byte[]? Data, [property: Id(1)] string ETag)
{
    /// <summary>A state of an immutable type, kept as it is (<see cref="IMemoryStoreGrain.WriteValue"/>); null when <see cref="Data"/> holds it.</summary>
    [Id(2)] public object? Value { get; init; }
}

/// <summary>
/// Grain state in silo memory for the embedded default, spread over <see cref="Shards"/> grains so that any silo of an
/// embedded cluster reads what another wrote. Unlike Orleans' memory storage, which keeps a null entry for every state
/// ever cleared (so that a late writer with an old etag is caught), a cleared state is forgotten: at a settled call per
/// cleared session, that entry was what still grew with every call after settled calls left grain state.
/// States of types marked <see cref="ImmutableAttribute"/> (every CallGrains state: records of immutable collections,
/// replaced and never changed in place) are kept as the objects they are, so a write within a silo costs no
/// serialization; Orleans serializes them only when the shard lives on another silo of an embedded cluster. Other
/// states (Orleans' own stream subscriptions) are serialized, so a later change of the grain's object cannot reach the
/// stored copy. A shard whose grain is active on this silo is read and written directly, without a grain call
/// (<see cref="LocalStoreShards"/>): in the embedded host, that is every shard once it has been used.
/// </summary>
public sealed class MemoryGrainStore(IGrainFactory grains, IGrainStorageSerializer serializer, LocalStoreShards local) : IGrainStorage
{
    public const int Shards = 16;

    public async Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        var key = Key(stateName, grainId);
        var index = Index(key);
        var stored = local.Get(index) is { } shard ? shard.Read(key) : await Shard(index).Read(key);
        if (stored is not null)
        {
            grainState.State = stored.Value is T value ? value : serializer.Deserialize<T>(BinaryData.FromBytes(stored.Data!));
            grainState.ETag = stored.ETag;
            grainState.RecordExists = true;
        }
    }

    public async Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        var key = Key(stateName, grainId);
        var index = Index(key);
        var kept = ByReference<T>.Kept && grainState.State is not null;
        if (local.Get(index) is { } shard)
        {
            var stored = kept ? new StoredState(null, StoreShard.NewETag()) { Value = grainState.State } : new StoredState(serializer.Serialize(grainState.State).ToArray(), StoreShard.NewETag());
            grainState.ETag = shard.Store(key, stored, grainState.ETag);
        }
        else
        {
            grainState.ETag = kept
                ? await Shard(index).WriteValue(key, new Immutable<object>(grainState.State!), grainState.ETag)
                : await Shard(index).Write(key, serializer.Serialize(grainState.State).ToArray(), grainState.ETag);
        }

        grainState.RecordExists = true;
    }

    public async Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        var key = Key(stateName, grainId);
        var index = Index(key);
        if (local.Get(index) is { } shard)
        {
            shard.Delete(key, grainState.ETag);
        }
        else
        {
            await Shard(index).Delete(key, grainState.ETag);
        }

        grainState.ETag = null;
        grainState.RecordExists = false;
    }

    private static string Key(string stateName, GrainId grainId) => $"{grainId}/{stateName}";

    private static long Index(string key) => Fnv.Hash(key) % Shards;

    private IMemoryStoreGrain Shard(long index) => grains.Ref<IMemoryStoreGrain>(index);

    private static class ByReference<T>
    {
        public static readonly bool Kept = typeof(T).IsDefined(typeof(ImmutableAttribute), inherit: false);
    }
}
