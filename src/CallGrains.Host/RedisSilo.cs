using CallGrains.Grains;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using Orleans.Serialization;
using Orleans.Storage;
using StackExchange.Redis;

namespace CallGrains.Host;

public static class RedisSilo
{
    /// <summary>
    /// Grain state (every store), reminders and the ring deadline index in Redis. Register before
    /// <c>AddCallGrains</c>, which keeps a durable index registered here. State is written with the Orleans binary serializer, the
    /// one the <c>[GenerateSerializer]</c>/<c>[Id]</c> contracts are versioned for; the JSON default cannot read
    /// back immutable collections.
    /// </summary>
    public static ISiloBuilder AddCallGrainsRedisStorage(this ISiloBuilder silo, string connectionString)
    {
        var redis = ConfigurationOptions.Parse(connectionString);
        foreach (var store in StorageNames.All)
        {
            silo.AddRedisGrainStorage(store, options => options.Configure<Serializer>((o, serializer) =>
            {
                o.ConfigurationOptions = redis;
                o.GrainStorageSerializer = new OrleansGrainStorageSerializer(serializer);
            }));
        }

        silo.UseRedisReminderService(o => o.ConfigurationOptions = redis);

        // Ringing calls are indexed by deadline in Redis, so a call whose silo dies still times out (IRingDeadlines).
        silo.Services.AddSingleton<IRingDeadlines>(sp => new RedisRingDeadlines(redis, sp.GetRequiredService<IOptions<ClusterOptions>>()));
        return silo;
    }
}
