using Orleans.Storage;

namespace CallGrains.Grains.Storage;

/// <summary>
/// The states of one shard of <see cref="MemoryGrainStore"/>, with their etags. Held by the shard's grain
/// (<see cref="MemoryStoreGrain"/>) and, while that grain is active on this silo, used directly by the silo's stores
/// (<see cref="LocalStoreShards"/>): every access takes the lock, so a grain call from another silo and a direct
/// write from this one see each other's changes in one order.
/// </summary>
public sealed class StoreShard
{
    private readonly Dictionary<string, StoredState> _states = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();

    public StoredState? Read(string key)
    {
        lock (_lock)
        {
            return _states.GetValueOrDefault(key);
        }
    }

    /// <summary>Stores <paramref name="stored"/> if <paramref name="etag"/> is the stored one (or nothing is stored).</summary>
    public string Store(string key, StoredState stored, string? etag)
    {
        lock (_lock)
        {
            Check(key, etag);
            _states[key] = stored;
            return stored.ETag;
        }
    }

    /// <summary>Deletes the state if <paramref name="etag"/> is the stored one; the key is forgotten.</summary>
    public void Delete(string key, string? etag)
    {
        lock (_lock)
        {
            Check(key, etag);
            _states.Remove(key);
        }
    }

    public int Count(string prefix)
    {
        lock (_lock)
        {
            return _states.Keys.Count(k => k.StartsWith(prefix, StringComparison.Ordinal));
        }
    }

    public static string NewETag() => Guid.NewGuid().ToString("N");

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

/// <summary>
/// The shards of the memory store whose grain is active on this silo, by index. A store reads and writes these
/// without a grain call (in the embedded host, every shard after its first use), and calls the grain for the others.
/// </summary>
public sealed class LocalStoreShards
{
    private readonly StoreShard?[] _shards = new StoreShard?[MemoryGrainStore.Shards];

    public StoreShard? Get(long index) => Volatile.Read(ref _shards[index]);

    public void Add(long index, StoreShard shard) => Volatile.Write(ref _shards[index], shard);

    /// <summary>Only the shard that was added: a later activation's shard stays.</summary>
    public void Remove(long index, StoreShard shard) => Interlocked.CompareExchange(ref _shards[index], null, shard);
}
