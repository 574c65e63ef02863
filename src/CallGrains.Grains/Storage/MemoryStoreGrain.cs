using Orleans.Concurrency;
using Orleans.Storage;

namespace CallGrains.Grains.Storage;

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

    public Task<string> Write(string key, byte[] data, string? etag) => Store(key, new StoredState(data, NewETag()), etag);

    public Task<string> WriteValue(string key, Immutable<object> value, string? etag) =>
        Store(key, new StoredState(null, NewETag()) { Value = value.Value }, etag);

    public Task Delete(string key, string? etag)
    {
        Check(key, etag);
        _states.Remove(key);
        return Task.CompletedTask;
    }

    private Task<string> Store(string key, StoredState stored, string? etag)
    {
        Check(key, etag);
        _states[key] = stored;
        return Task.FromResult(stored.ETag);
    }

    private static string NewETag() => Guid.NewGuid().ToString("N");

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
