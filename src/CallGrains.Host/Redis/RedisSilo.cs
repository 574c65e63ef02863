using CallGrains.Abstractions;
using CallGrains.Grains;
using CallGrains.Grains.Deadlines;
using CallGrains.Grains.Storage;
using CallGrains.Grains.Users;
using CallGrains.Grains.Webhooks;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using Orleans.Serialization;
using Orleans.Storage;
using StackExchange.Redis;

namespace CallGrains.Host.Redis;

public static class RedisSilo
{
    /// <summary>
    /// Redis client options for every connection of a silo. Replies are completed on the .NET thread pool rather than
    /// on the client's own 10 dedicated threads per process: measured under load, the hand-off between those and the
    /// pool's threads was most of the silos' context switching (docs/benchmarks.md).
    /// </summary>
    public static ConfigurationOptions Options(string connectionString)
    {
        var options = ConfigurationOptions.Parse(connectionString);
        options.SocketManager = SocketManager.ThreadPool;
        return options;
    }

    /// <summary>
    /// Grain state (every store) and the ring deadline index in Redis. Register before
    /// <c>AddCallGrains</c>, which keeps a durable index registered here. State is written with the Orleans binary serializer, the
    /// one the <c>[GenerateSerializer]</c>/<c>[Id]</c> contracts are versioned for; the JSON default cannot read
    /// back immutable collections. Call history goes to <paramref name="historyConnectionString"/> when given.
    /// </summary>
    public static ISiloBuilder AddCallGrainsRedisStorage(this ISiloBuilder silo, string connectionString, string? historyConnectionString = null)
    {
        var redis = Options(connectionString);
        var history = historyConnectionString is null ? redis : Options(historyConnectionString);
        foreach (var store in StorageNames.All)
        {
            // A cleared state is deleted, not kept as an empty record: settled calls and deleted groups leave Redis.
            silo.Services.AddKeyedSingleton<IGrainStorage>(store, (sp, _) => new RedisGrainStore(
                store,
                redis,
                sp.GetRequiredService<Serializer>(),
                sp.GetRequiredService<IOptions<ClusterOptions>>()));
        }

        // Ringing calls are indexed by deadline in Redis, so a call whose silo dies still times out (IRingDeadlines);
        // a session's entry is written by the store with its state.
        silo.Services.AddSingleton<IRingDeadlines>(sp => new RedisRingDeadlines(redis, sp.GetRequiredService<IOptions<ClusterOptions>>()));

        // Users in their disconnect grace, and which users have devices on which gateway: a silo's death cannot leave
        // anyone in a call forever (IGraceDeadlines, IPresenceIndex).
        silo.Services.AddSingleton<IGraceDeadlines>(sp => new RedisGraceDeadlines(redis, sp.GetRequiredService<IOptions<ClusterOptions>>()));
        silo.Services.AddSingleton<IPresenceIndex>(sp => new RedisPresenceIndex(redis, sp.GetRequiredService<IOptions<ClusterOptions>>()));

        // Webhook queues: each endpoint's pending and recent deliveries, so a node's death loses no event (IWebhookOutbox).
        // With history, not membership: a receiver down for long fills that Redis, never the one the cluster lives on.
        silo.Services.AddSingleton<IWebhookOutbox>(sp => new RedisWebhookOutbox(history, sp.GetRequiredService<IOptions<ClusterOptions>>()));

        // Call history: final records and per-user histories, with their retention (ICallLog).
        silo.Services.AddSingleton<ICallLog>(sp => new RedisCallLog(
            history,
            sp.GetRequiredService<IOptions<ClusterOptions>>(),
            sp.GetRequiredService<IOptions<CallOptions>>(),
            sp.GetRequiredService<Serializer>(),
            sp.GetRequiredService<TimeProvider>()));
        return silo;
    }
}
