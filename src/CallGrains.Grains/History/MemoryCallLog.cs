using CallGrains.Abstractions;
using Orleans.Serialization;

namespace CallGrains.Grains.History;

/// <summary>
/// The embedded default's call log: each user's history in that user's <see cref="ICallLogGrain"/>, and the final
/// records by session in <see cref="CallRecordShardGrain.Count"/> shards.
/// </summary>
public sealed class MemoryCallLog(IGrainFactory grains, Serializer serializer) : ICallLog
{
    public async Task AppendAsync(CallInfo settled)
    {
        // Serialized once: the shard and every party's history keep the same array (ArchivedCall).
        var archived = new ArchivedCall(settled.SessionId, settled.InitiatedAt.ToUnixTimeMilliseconds(), serializer.SerializeToArray(settled));

        // The record first: an entry in a history always finds its record.
        await Shard(settled.SessionId).Put(archived);
        await Task.WhenAll(CallHistory.Entries(settled).Select(e => grains.Ref<ICallLogGrain>(e.Uid).Add(archived, Flags(e.Entry))));
    }

    public Task<CallLogPage> QueryAsync(string uid, CallLogQuery query) => grains.Ref<ICallLogGrain>(uid).Query(query);

    public Task<CallInfo?> FindAsync(string sessionId) => Shard(sessionId).Find(sessionId);

    private static ulong Flags(CallLogEntry entry)
    {
        Span<char> flags = stackalloc char[CallHistory.FlagCount];
        CallHistory.WriteFlags(entry, flags);
        return HistoryEntries.PackFlags(flags);
    }

    private ICallRecordShardGrain Shard(string sessionId) =>
        grains.Ref<ICallRecordShardGrain>(CallRecordShardGrain.ShardOf(sessionId));
}
