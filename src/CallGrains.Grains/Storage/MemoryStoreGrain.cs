using Orleans.Concurrency;

namespace CallGrains.Grains.Storage;

/// <summary>
/// One shard of <see cref="MemoryGrainStore"/>; it stays active for the life of its silo, where the silo's stores use
/// its states directly (<see cref="LocalStoreShards"/>) and other silos call it.
/// </summary>
public sealed class MemoryStoreGrain(LocalStoreShards local) : Grain, IMemoryStoreGrain
{
    private readonly StoreShard _shard = new();

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        // Its states exist nowhere else: it must not be collected when idle.
        DelayDeactivation(TimeSpan.FromDays(3650));
        local.Add(this.GetPrimaryKeyLong(), _shard);
        return Task.CompletedTask;
    }

    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        local.Remove(this.GetPrimaryKeyLong(), _shard);
        return Task.CompletedTask;
    }

    public Task<StoredState?> Read(string key) => Task.FromResult(_shard.Read(key));

    public Task<string> Write(string key, byte[] data, string? etag) =>
        Task.FromResult(_shard.Store(key, new StoredState(data, StoreShard.NewETag()), etag));

    public Task<string> WriteValue(string key, Immutable<object> value, string? etag) =>
        Task.FromResult(_shard.Store(key, new StoredState(null, StoreShard.NewETag()) { Value = value.Value }, etag));

    public Task Delete(string key, string? etag)
    {
        _shard.Delete(key, etag);
        return Task.CompletedTask;
    }

    public Task<int> Count(string prefix) => Task.FromResult(_shard.Count(prefix));
}
