using CallGrains.Abstractions;
using CallGrains.Grains;
using CallGrains.Host.Redis;
using CallGrains.LocalCluster;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using Orleans.Serialization;
using StackExchange.Redis;

namespace CallGrains.Tests;

/// <summary>The production store, <see cref="RedisCallLog"/>, against a real redis-server started for the class.</summary>
public sealed class RedisCallLogTests : CallLogStoreTests
{
    private RedisProcess _redis = null!;
    private ServiceProvider _services = null!;
    private ConnectionMultiplexer _probe = null!;

    public override async Task InitializeAsync()
    {
        _redis = await RedisProcess.StartAsync();
        _services = new ServiceCollection().AddSerializer(b => b.AddAssembly(typeof(CallInfo).Assembly)).BuildServiceProvider();
        Log = Store(Retention);
        _probe = await ConnectionMultiplexer.ConnectAsync(_redis.ConnectionString);
    }

    public override async Task DisposeAsync()
    {
        await ((RedisCallLog)Log).DisposeAsync();
        await _probe.DisposeAsync();
        await _services.DisposeAsync();
        await _redis.DisposeAsync();
    }

    [Fact]
    public async Task Records_and_histories_leave_redis_after_the_retention()
    {
        // Real time here: Redis expires keys by its own clock.
        var shortLived = Store(TimeSpan.FromSeconds(2), TimeProvider.System, service: "short");
        var (me, peers) = NewUsers(3);
        var calls = new List<CallInfo>();
        foreach (var peer in peers)
        {
            var call = Call(me, peer, 0, kind: 1) with { InitiatedAt = DateTimeOffset.UtcNow };
            await shortLived.AppendAsync(call);
            calls.Add(call);
        }

        Assert.Equal(3, (await shortLived.QueryAsync(me, new CallLogQuery())).Entries.Length);
        Assert.NotNull(await shortLived.FindAsync(calls[0].SessionId));
        Assert.Equal(7, await KeysAsync("callgrains:short:*"));

        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (await KeysAsync("callgrains:short:*") > 0)
        {
            Assert.True(DateTime.UtcNow < deadline, "keys still in Redis 30 s after a 2 s retention");
            await Task.Delay(250);
        }

        Assert.Empty((await shortLived.QueryAsync(me, new CallLogQuery())).Entries);
        Assert.Null(await shortLived.FindAsync(calls[0].SessionId));
        await shortLived.DisposeAsync();
    }

    [Fact]
    public async Task A_busy_users_history_drops_expired_entries_as_new_ones_arrive()
    {
        var (me, peers) = NewUsers(1);
        await AppendAsync(Call(me, peers[0], 0, kind: 0));
        Clock.Advance(Retention + TimeSpan.FromMinutes(1));
        var fresh = await AppendAsync(Call(me, peers[0], 0, kind: 1));

        Assert.Equal([fresh.SessionId], await AllAsync(me, new CallLogQuery()));
        Assert.Equal(1, await _probe.GetDatabase().SortedSetLengthAsync($"callgrains:test:log:{me}"));
        Assert.InRange((await _probe.GetDatabase().KeyTimeToLiveAsync($"callgrains:test:log:{me}"))!.Value, TimeSpan.FromMinutes(59), Retention);
    }

    [Fact]
    public async Task A_settled_call_costs_redis_one_command_however_many_parties_it_had()
    {
        var (host, members) = NewUsers(8);
        await AppendAsync(GroupCall(host, members, Clock.GetUtcNow()));
        var before = await CommandCallsAsync();
        const int calls = 5;
        for (var i = 0; i < calls; i++)
        {
            await AppendAsync(GroupCall(host, members, Clock.GetUtcNow().AddMilliseconds(i + 1)));
        }

        var after = await CommandCallsAsync();
        long Delta(string name) => after.GetValueOrDefault(name) - before.GetValueOrDefault(name);

        // One script a call (INFO counts what a script runs too, so the writes inside show as well): one round trip.
        Assert.Equal(calls, Delta("evalsha") + Delta("eval"));
        Assert.Equal(calls, Delta("set"));
        Assert.Equal(calls * 9, Delta("zadd"));
        Assert.Equal(6, (await Log.QueryAsync(members[5], new CallLogQuery())).Entries.Length);
    }

    private async Task<Dictionary<string, long>> CommandCallsAsync()
    {
        var info = (string)(await _probe.GetDatabase().ExecuteAsync("INFO", "commandstats"))!;

        // cmdstat_evalsha:calls=176036,usec=...
        return info.Split('\n', StringSplitOptions.TrimEntries).Where(l => l.StartsWith("cmdstat_", StringComparison.Ordinal)).ToDictionary(
            l => l["cmdstat_".Length..l.IndexOf(':', StringComparison.Ordinal)],
            l => long.Parse(l.Split(',')[0][(l.IndexOf("calls=", StringComparison.Ordinal) + "calls=".Length)..], System.Globalization.CultureInfo.InvariantCulture));
    }

    private RedisCallLog Store(TimeSpan retention, TimeProvider? time = null, string service = "test") => new RedisCallLog(
        ConfigurationOptions.Parse(_redis.ConnectionString),
        Options.Create(new ClusterOptions { ServiceId = service }),
        Options.Create(new CallOptions { LogRetention = retention, MaxLogEntriesPerUser = Cap }),
        _services.GetRequiredService<Serializer>(),
        time ?? Clock);

    private async Task<int> KeysAsync(string pattern)
    {
        var keys = 0;
        await foreach (var _ in _probe.GetServer(_probe.GetEndPoints()[0]).KeysAsync(pattern: pattern, pageSize: 1000))
        {
            keys++;
        }

        return keys;
    }
}
