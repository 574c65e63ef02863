using CallGrains.Grains;
using Orleans.Serialization;
using Orleans.Storage;
using StackExchange.Redis;

namespace CallGrains.Host;

public static class RedisSilo
{
    /// <summary>
    /// Grain state (every store) and reminders in Redis. State is written with the Orleans binary serializer, the
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
        silo.Services.PostConfigure<CallOptions>(o => o.ReminderBackstop = true);
        return silo;
    }
}
