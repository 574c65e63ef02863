using CallGrains.Abstractions;

namespace CallGrains.Grains.History;

/// <summary>
/// The embedded default's call log: each user's history in that user's <see cref="ICallLogGrain"/>, and the final
/// records by session in <see cref="CallRecordShardGrain.Count"/> shards.
/// </summary>
public sealed class MemoryCallLog(IGrainFactory grains) : ICallLog
{
    public async Task AppendAsync(CallInfo settled)
    {
        // The record first: an entry in a history always finds its record.
        await Shard(settled.SessionId).Put(settled);
        await Task.WhenAll(CallHistory.Entries(settled).Select(e => grains.Ref<ICallLogGrain>(e.Uid).Add(e.Entry)));
    }

    public Task<CallLogPage> QueryAsync(string uid, CallLogQuery query) => grains.Ref<ICallLogGrain>(uid).Query(query);

    public Task<CallInfo?> FindAsync(string sessionId) => Shard(sessionId).Find(sessionId);

    private ICallRecordShardGrain Shard(string sessionId) =>
        grains.Ref<ICallRecordShardGrain>(CallRecordShardGrain.ShardOf(sessionId));
}
