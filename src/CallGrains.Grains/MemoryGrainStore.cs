using CallGrains.Abstractions;
using Orleans.Storage;

namespace CallGrains.Grains;

/// <summary>One shard of the embedded default's grain state: serialized states by key, with their etags.</summary>
[Alias("cg.IMemoryStoreGrain")]
public interface IMemoryStoreGrain : IGrainWithIntegerKey
{
    [Alias("Read")]
    Task<StoredState?> Read(string key);

    /// <summary>Stores <paramref name="data"/> if <paramref name="etag"/> is the stored one (or nothing is stored); returns the new etag.</summary>
    [Alias("Write")]
    Task<string> Write(string key, byte[] data, string? etag);

    /// <summary>Deletes the state if <paramref name="etag"/> is the stored one; the key is forgotten.</summary>
    [Alias("Delete")]
    Task Delete(string key, string? etag);

    /// <summary>How many states this shard holds whose key starts with <paramref name="prefix"/> (grain type, say): for operators and tests.</summary>
    [Alias("Count")]
    Task<int> Count(string prefix);
}

[GenerateSerializer, Immutable, Alias("cg.StoredState")]
public sealed record StoredState([property: Id(0)] byte[] Data, [property: Id(1)] string ETag);

/// <summary>
/// Grain state in silo memory for the embedded default, spread over <see cref="Shards"/> grains so that any silo of an
/// embedded cluster reads what another wrote. Unlike Orleans' memory storage, which keeps a null entry for every state
/// ever cleared (so that a late writer with an old etag is caught), a cleared state is forgotten: at a settled call per
/// cleared session, that entry was what still grew with every call after settled calls left grain state.
/// </summary>
public sealed class MemoryGrainStore(IGrainFactory grains, IGrainStorageSerializer serializer) : IGrainStorage
{
    public const int Shards = 16;

    public async Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        var key = Key(stateName, grainId);
        if (await Shard(key).Read(key) is { } stored)
        {
            grainState.State = serializer.Deserialize<T>(BinaryData.FromBytes(stored.Data));
            grainState.ETag = stored.ETag;
            grainState.RecordExists = true;
        }
    }

    public async Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        var key = Key(stateName, grainId);
        grainState.ETag = await Shard(key).Write(key, serializer.Serialize(grainState.State).ToArray(), grainState.ETag);
        grainState.RecordExists = true;
    }

    public async Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        var key = Key(stateName, grainId);
        await Shard(key).Delete(key, grainState.ETag);
        grainState.ETag = null;
        grainState.RecordExists = false;
    }

    private static string Key(string stateName, GrainId grainId) => $"{grainId}/{stateName}";

    private IMemoryStoreGrain Shard(string key) => grains.GetGrain<IMemoryStoreGrain>(Fnv.Hash(key) % Shards);
}

/// <summary>One shard of <see cref="MemoryGrainStore"/>; it stays active for the life of its silo.</summary>
public sealed class MemoryStoreGrain : Grain, IMemoryStoreGrain
{
    private readonly Dictionary<string, StoredState> _states = new(StringComparer.Ordinal);

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        // Its states exist nowhere else: it must not be collected when idle.
        DelayDeactivation(TimeSpan.FromDays(3650));
        return Task.CompletedTask;
    }

    public Task<StoredState?> Read(string key) => Task.FromResult(_states.GetValueOrDefault(key));

    public Task<string> Write(string key, byte[] data, string? etag)
    {
        Check(key, etag);
        var stored = new StoredState(data, Guid.NewGuid().ToString("N"));
        _states[key] = stored;
        return Task.FromResult(stored.ETag);
    }

    public Task Delete(string key, string? etag)
    {
        Check(key, etag);
        _states.Remove(key);
        return Task.CompletedTask;
    }

    public Task<int> Count(string prefix) => Task.FromResult(_states.Keys.Count(k => k.StartsWith(prefix, StringComparison.Ordinal)));

    // A writer must hold the stored etag. With nothing stored any etag is taken, as Orleans' memory storage does (its
    // states may have been lost with a silo); a cleared state is forgotten, so a late writer after a clear is not caught.
    private void Check(string key, string? etag)
    {
        if (_states.TryGetValue(key, out var stored) && stored.ETag != etag)
        {
            throw new InconsistentStateException($"etag mismatch for {key}", stored.ETag, etag ?? "");
        }
    }
}
