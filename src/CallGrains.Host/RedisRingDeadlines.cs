using CallGrains.Grains;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using StackExchange.Redis;

namespace CallGrains.Host;

/// <summary>
/// The ring deadline index in Redis: one sorted set per service (<c>callgrains:{ServiceId}:ringing</c>), session ids
/// scored by deadline in Unix milliseconds. It holds only calls that are ringing now, so its size is bounded by the
/// calls ringing at once.
/// </summary>
public sealed class RedisRingDeadlines : IRingDeadlines, IAsyncDisposable
{
    private readonly Lazy<Task<ConnectionMultiplexer>> _redis;
    private readonly RedisKey _key;

    public RedisRingDeadlines(ConfigurationOptions redis, IOptions<ClusterOptions> cluster)
    {
        // Its own connection that reconnects by itself (a Redis restart must not need a silo restart).
        var options = redis.Clone();
        options.AbortOnConnectFail = false;
        _redis = new Lazy<Task<ConnectionMultiplexer>>(() => ConnectionMultiplexer.ConnectAsync(options));
        _key = $"callgrains:{cluster.Value.ServiceId}:ringing";
    }

    public bool Durable => true;

    public async Task AddAsync(string sessionId, DateTimeOffset deadline) =>
        await (await _redis.Value).GetDatabase().SortedSetAddAsync(_key, sessionId, deadline.ToUnixTimeMilliseconds());

    public void Remove(string sessionId)
    {
        if (_redis.Value is { IsCompletedSuccessfully: true } connected)
        {
            try
            {
                connected.Result.GetDatabase().SortedSetRemove(_key, sessionId, CommandFlags.FireAndForget);
            }
            catch (RedisException)
            {
                // Left for the sweep, which drops the entry once the call says it has settled.
            }
        }
    }

    public async Task<IReadOnlyList<string>> DueAsync(DateTimeOffset before, int max)
    {
        var due = await (await _redis.Value).GetDatabase().SortedSetRangeByScoreAsync(_key, double.NegativeInfinity, before.ToUnixTimeMilliseconds(), take: max);
        return [.. due.Select(v => v.ToString())];
    }

    public async ValueTask DisposeAsync()
    {
        if (_redis.IsValueCreated && _redis.Value is { IsCompletedSuccessfully: true } connected)
        {
            await connected.Result.DisposeAsync();
        }
    }
}
