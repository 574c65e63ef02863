using CallGrains.Grains;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using StackExchange.Redis;

namespace CallGrains.Host;

/// <summary>
/// The ring deadline index in Redis: one sorted set per service (<c>callgrains:{ServiceId}:ringing</c>), session ids
/// scored by deadline in Unix milliseconds. It holds only calls that are ringing now (and, briefly, entries whose
/// removal was lost), so its size is bounded by the calls ringing at once.
/// </summary>
public sealed class RedisRingDeadlines : IRingDeadlines, IAsyncDisposable
{
    // Takes the due entries and pushes them back in one step, so concurrent sweeps of other silos take the next ones.
    private const string ClaimScript = """
        local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
        for _, id in ipairs(due) do
            redis.call('ZADD', KEYS[1], 'XX', ARGV[3], id)
        end
        return due
        """;

    private readonly ConfigurationOptions _options;
    private readonly RedisKey _key;
    private readonly Lock _gate = new();
    private Task<ConnectionMultiplexer>? _connecting;

    // Set once a connection is up: Remove, which must not wait, uses it only then.
    private volatile ConnectionMultiplexer? _connection;

    public RedisRingDeadlines(ConfigurationOptions redis, IOptions<ClusterOptions> cluster)
    {
        // Its own connection that reconnects by itself (a Redis restart must not need a silo restart).
        _options = redis.Clone();
        _options.AbortOnConnectFail = false;
        _key = $"callgrains:{cluster.Value.ServiceId}:ringing";
    }

    public bool Durable => true;

    public async Task AddAsync(string sessionId, DateTimeOffset deadline) =>
        await (await ConnectAsync()).GetDatabase().SortedSetAddAsync(_key, sessionId, deadline.ToUnixTimeMilliseconds());

    public void Remove(string sessionId)
    {
        try
        {
            _connection?.GetDatabase().SortedSetRemove(_key, sessionId, CommandFlags.FireAndForget);
        }
        catch (Exception ex) when (ex is RedisException or ObjectDisposedException or InvalidOperationException)
        {
            // Left for the sweep, which drops the entry once the call says it has settled.
        }
    }

    public async Task<IReadOnlyList<string>> ClaimDueAsync(DateTimeOffset before, int max, DateTimeOffset retryAt)
    {
        var result = await (await ConnectAsync()).GetDatabase().ScriptEvaluateAsync(
            ClaimScript,
            [_key],
            [before.ToUnixTimeMilliseconds(), max, retryAt.ToUnixTimeMilliseconds()]);
        return [.. ((RedisResult[])result!).Select(r => r.ToString())];
    }

    public async Task<IReadOnlyList<string>> ListAsync(int max)
    {
        var all = await (await ConnectAsync()).GetDatabase().SortedSetRangeByRankAsync(_key, 0, max - 1);
        return [.. all.Select(v => v.ToString())];
    }

    /// <summary>The connection, started on first use; a failed attempt is not kept, the next use tries again.</summary>
    private Task<ConnectionMultiplexer> ConnectAsync()
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

    private async Task<ConnectionMultiplexer> ConnectCoreAsync() => _connection = await ConnectionMultiplexer.ConnectAsync(_options);

    public async ValueTask DisposeAsync()
    {
        if (_connection is { } connection)
        {
            await connection.DisposeAsync();
        }
    }
}
