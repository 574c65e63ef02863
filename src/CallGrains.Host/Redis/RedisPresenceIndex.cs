using CallGrains.Grains.Users;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using StackExchange.Redis;

namespace CallGrains.Host.Redis;

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
