using CallGrains.Abstractions;
using Microsoft.Extensions.Options;
using Orleans.Serialization;

namespace CallGrains.Grains.History;

/// <summary>Final records of settled calls by session id, for one shard of them (<see cref="MemoryCallLog"/>).</summary>
[Alias("cg.ICallRecordShardGrain")]
public interface ICallRecordShardGrain : IGrainWithIntegerKey
{
    [Alias("Put")]
    Task Put(ArchivedCall settled);

    [Alias("Find")]
    Task<CallInfo?> Find(string sessionId);
}

/// <summary>
/// The embedded default's final call records, in memory: one shard of the session ids, each record kept for
/// <see cref="CallOptions.LogRetention"/> from when it was written. Records arrive in time order and all live equally
/// long, so they expire in the order they came: a queue, dropped from its head on every write and by a timer. Per-call
/// traffic is spread over <see cref="Count"/> shards, placed across the silos like any grain. A record is kept as its
/// serialized bytes (<see cref="ArchivedCall"/>), shared with the parties' histories, and read back only when asked for.
/// </summary>
public sealed class CallRecordShardGrain(IOptions<CallOptions> options, TimeProvider time, Serializer serializer) : Grain, ICallRecordShardGrain
{
    public const int Count = 16;

    private static readonly TimeSpan MaxExpiryInterval = TimeSpan.FromMinutes(1);

    private readonly Dictionary<string, byte[]> _records = new(StringComparer.Ordinal);
    private readonly Queue<(DateTimeOffset ExpiresAt, string SessionId)> _expiry = new();
    private IGrainTimer? _timer;

    /// <summary>The shard of a session id, the same in every process.</summary>
    public static int ShardOf(string sessionId) => Fnv.Hash(sessionId) % Count;

    public Task Put(ArchivedCall settled)
    {
        if (_records.TryAdd(settled.SessionId, settled.Record))
        {
            _expiry.Enqueue((time.GetUtcNow() + options.Value.LogRetention, settled.SessionId));
        }

        DropExpired();
        return Task.CompletedTask;
    }

    public Task<CallInfo?> Find(string sessionId)
    {
        DropExpired();
        return Task.FromResult(_records.TryGetValue(sessionId, out var record) ? serializer.Deserialize<CallInfo>(record) : null);
    }

    private void DropExpired()
    {
        var now = time.GetUtcNow();
        while (_expiry.TryPeek(out var head) && head.ExpiresAt <= now)
        {
            _records.Remove(_expiry.Dequeue().SessionId);
        }

        if (_expiry.Count == 0)
        {
            _timer?.Dispose();
            _timer = null;
            return;
        }

        var retention = options.Value.LogRetention;
        var interval = retention < MaxExpiryInterval ? retention : MaxExpiryInterval;
        _timer ??= this.RegisterGrainTimer(
            () =>
            {
                DropExpired();
                return Task.CompletedTask;
            },
            new GrainTimerCreationOptions(interval, interval) { KeepAlive = true });
    }
}
