using CallGrains.Grains.Deadlines;
using CallGrains.Grains.Users;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using StackExchange.Redis;

namespace CallGrains.Host;

/// <summary>
/// The sessions' wake-up index in Redis: one sorted set per service (<c>callgrains:{ServiceId}:ringing</c>), session ids
/// scored by due time in Unix milliseconds. It holds calls that ring now and calls whose last transition's updates
/// are being delivered (and, briefly, entries whose removal was lost), so its size is bounded by the calls ringing or
/// changing at once.
/// </summary>
public sealed class RedisRingDeadlines(ConfigurationOptions redis, IOptions<ClusterOptions> cluster)
    : RedisDeadlineIndex(redis, cluster, "ringing"), IRingDeadlines;

/// <summary>Users in their disconnect grace (<c>callgrains:{ServiceId}:grace</c>), scored by the grace's end.</summary>
public sealed class RedisGraceDeadlines(ConfigurationOptions redis, IOptions<ClusterOptions> cluster)
    : RedisDeadlineIndex(redis, cluster, "grace"), IGraceDeadlines;

/// <summary>A sorted set of ids by due time, with a claim that lets every silo sweep it without repeating work.</summary>
public abstract class RedisDeadlineIndex(ConfigurationOptions redis, IOptions<ClusterOptions> cluster, string name) : IDeadlineIndex, IAsyncDisposable
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
    private readonly RedisKey _key = $"callgrains:{cluster.Value.ServiceId}:{name}";

    public bool Durable => true;

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

/// <summary>
/// The presence index in Redis: per gateway a set of the uids with a device there
/// (<c>callgrains:{ServiceId}:gateway:{gatewayId}</c>), and the set of gateways that have one
/// (<c>callgrains:{ServiceId}:gateways</c>). Entries come and go with devices; a dead gateway's set empties as its
/// users are told and is then forgotten, so the index holds about one entry per connected user.
/// </summary>
public sealed class RedisPresenceIndex(ConfigurationOptions redis, IOptions<ClusterOptions> cluster) : IPresenceIndex, IAsyncDisposable
{
    // Removes the gateway from the list only if its set is empty, in one step, so a concurrent add is never lost.
    private const string ForgetScript = """
        if redis.call('SCARD', KEYS[2]) == 0 then
            redis.call('SREM', KEYS[1], ARGV[1])
            return 1
        end
        return 0
        """;

    private readonly RedisLazyConnection _redis = new(redis);
    private readonly string _prefix = $"callgrains:{cluster.Value.ServiceId}:";

    private RedisKey Gateways => _prefix + "gateways";

    public bool Durable => true;

    public async Task AddAsync(string gatewayId, string uid)
    {
        var db = (await _redis.ConnectAsync()).GetDatabase();
        var listed = db.SetAddAsync(Gateways, gatewayId);
        await db.SetAddAsync(Key(gatewayId), uid);
        await listed;
    }

    public void Remove(string gatewayId, string uid) =>
        _redis.FireAndForget(db => db.SetRemove(Key(gatewayId), uid, CommandFlags.FireAndForget));

    public async Task<IReadOnlyList<string>> GatewaysAsync()
    {
        var all = await (await _redis.ConnectAsync()).GetDatabase().SetMembersAsync(Gateways);
        return [.. all.Select(v => v.ToString())];
    }

    public async Task<IReadOnlyList<string>> MembersAsync(string gatewayId, int max)
    {
        var some = await (await _redis.ConnectAsync()).GetDatabase().SetRandomMembersAsync(Key(gatewayId), max);
        return [.. some.Select(v => v.ToString())];
    }

    public async Task<bool> ForgetIfEmptyAsync(string gatewayId)
    {
        var result = await (await _redis.ConnectAsync()).GetDatabase().ScriptEvaluateAsync(ForgetScript, [Gateways, Key(gatewayId)], [gatewayId]);
        return (int)result == 1;
    }

    public ValueTask DisposeAsync() => _redis.DisposeAsync();

    private RedisKey Key(string gatewayId) => _prefix + "gateway:" + gatewayId;
}

/// <summary>
/// A connection of its own that reconnects by itself (a Redis restart must not need a silo restart), made on first use;
/// a failed attempt is not kept, the next use tries again.
/// </summary>
internal sealed class RedisLazyConnection : IAsyncDisposable
{
    private readonly ConfigurationOptions _options;
    private readonly Lock _gate = new();
    private Task<ConnectionMultiplexer>? _connecting;

    // Set once a connection is up: fire-and-forget commands, which must not wait, use it only then.
    private volatile ConnectionMultiplexer? _connection;

    public RedisLazyConnection(ConfigurationOptions redis)
    {
        _options = redis.Clone();
        _options.AbortOnConnectFail = false;
    }

    public Task<ConnectionMultiplexer> ConnectAsync()
    {
        lock (_gate)
        {
            if (_connecting is null || _connecting.IsFaulted || _connecting.IsCanceled)
            {
                _connecting = ConnectCoreAsync();
            }

            return _connecting;
        }
    }

    /// <summary>Sends a command without waiting, if connected; never throws.</summary>
    public void FireAndForget(Action<IDatabase> command)
    {
        try
        {
            if (_connection is { } connection)
            {
                command(connection.GetDatabase());
            }
        }
        catch (Exception ex) when (ex is RedisException or ObjectDisposedException or InvalidOperationException)
        {
            // Best effort by contract: the callers say what covers a lost command.
        }
    }

    private async Task<ConnectionMultiplexer> ConnectCoreAsync() => _connection = await ConnectionMultiplexer.ConnectAsync(_options);

    public async ValueTask DisposeAsync()
    {
        if (_connection is { } connection)
        {
            await connection.DisposeAsync();
        }
    }
}
