using CallGrains.Grains.Deadlines;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using StackExchange.Redis;

namespace CallGrains.Host.Redis;

/// <summary>
/// The sessions' wake-up index in Redis: one sorted set per service (<c>callgrains:{ServiceId}:ringing</c>), session ids
/// scored by due time in Unix milliseconds. It holds calls that ring now and calls whose last transition's updates
/// are being delivered (and, briefly, entries whose removal was lost), so its size is bounded by the calls ringing or
/// changing at once. A session's entry is written with its state by <see cref="RedisGrainStore"/> (one script per
/// transition) and moved here without waiting once the transition's updates are delivered.
/// </summary>
public sealed class RedisRingDeadlines(ConfigurationOptions redis, IOptions<ClusterOptions> cluster, bool writtenWithState = true)
    : RedisDeadlineIndex(redis, cluster, DeadlineIndexNames.Ringing, writtenWithState), IRingDeadlines;

/// <summary>Users in their disconnect grace (<c>callgrains:{ServiceId}:grace</c>), scored by the grace's end.</summary>
public sealed class RedisGraceDeadlines(ConfigurationOptions redis, IOptions<ClusterOptions> cluster)
    : RedisDeadlineIndex(redis, cluster, DeadlineIndexNames.Grace, writtenWithState: false), IGraceDeadlines;

/// <summary>A sorted set of ids by due time, with a claim that lets every silo sweep it without repeating work.</summary>
public abstract class RedisDeadlineIndex(ConfigurationOptions redis, IOptions<ClusterOptions> cluster, string name, bool writtenWithState)
    : IDeadlineIndex, IAsyncDisposable
{
    // Takes the due entries and pushes them back in one step, so concurrent sweeps of other silos take the next ones.
    private const string ClaimScript = """
        local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
        for _, id in ipairs(due) do
            redis.call('ZADD', KEYS[1], 'XX', ARGV[3], id)
        end
        return due
        """;

    private readonly RedisLazyConnection _redis = new(redis);
    private readonly RedisKey _key = DeadlineIndexNames.Key(cluster.Value.ServiceId, name);

    public bool Durable => true;

    public bool WrittenWithState => writtenWithState;

    public async Task AddAsync(string id, DateTimeOffset due) =>
        await (await _redis.ConnectAsync()).GetDatabase().SortedSetAddAsync(_key, id, due.ToUnixTimeMilliseconds());

    // The entry keeps its earlier time if this is lost: the grain is woken then and finds nothing to do but reschedule.
    public void Schedule(string id, DateTimeOffset due) =>
        _redis.FireAndForget(db => db.SortedSetAdd(_key, id, due.ToUnixTimeMilliseconds(), CommandFlags.FireAndForget));

    // Left for the sweep if this is lost, which drops the entry once the grain says it has nothing to do.
    public void Remove(string id) => _redis.FireAndForget(db => db.SortedSetRemove(_key, id, CommandFlags.FireAndForget));

    public async Task<IReadOnlyList<string>> ClaimDueAsync(DateTimeOffset before, int max, DateTimeOffset retryAt)
    {
        var result = await (await _redis.ConnectAsync()).GetDatabase().ScriptEvaluateAsync(
            ClaimScript,
            [_key],
            [before.ToUnixTimeMilliseconds(), max, retryAt.ToUnixTimeMilliseconds()]);
        return [.. ((RedisResult[])result!).Select(r => r.ToString())];
    }

    public async Task<IReadOnlyList<string>> ListAsync(int max)
    {
        var all = await (await _redis.ConnectAsync()).GetDatabase().SortedSetRangeByRankAsync(_key, 0, max - 1);
        return [.. all.Select(v => v.ToString())];
    }

    public async ValueTask DisposeAsync()
    {
        await _redis.DisposeAsync();
        GC.SuppressFinalize(this);
    }
}
