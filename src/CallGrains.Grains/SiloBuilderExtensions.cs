using CallGrains.Abstractions;
using CallGrains.Grains.Calls;
using CallGrains.Grains.Deadlines;
using CallGrains.Grains.Edges;
using CallGrains.Grains.History;
using CallGrains.Grains.Push;
using CallGrains.Grains.Push.Apns;
using CallGrains.Grains.Push.Fcm;
using CallGrains.Grains.PushStreams;
using CallGrains.Grains.Storage;
using CallGrains.Grains.Users;
using CallGrains.Grains.Webhooks;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Orleans.Serialization;
using Orleans.Storage;

namespace CallGrains.Grains;

public static class SiloBuilderExtensions
{
    /// <summary>
    /// What every CallGrains silo needs whatever its storage: options, the clock, and the event stream provider.
    /// Storage ("Default", "PubSubStore"), clustering and reminders are the host's choice.
    /// </summary>
    public static ISiloBuilder AddCallGrains(this ISiloBuilder silo)
    {
        silo.Services.AddOptions<CallOptions>().BindConfiguration(CallOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        silo.Services.AddOptions<DeviceOptions>().BindConfiguration(DeviceOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        silo.Services.AddOptions<PushTokenOptions>().BindConfiguration(PushTokenOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        silo.Services.TryAddSingleton(TimeProvider.System);

        // Events go to gateways on push streams: one grain call to the gateway's silo per event, where memory
        // streams would queue it for a pulling agent that polls (docs/architecture.md has the numbers).
        PushStreamProvider.Register(silo.Services, StreamNames.Provider);
        silo.AddPlacementDirector<SiloBoundPlacement, SiloBoundPlacementDirector>();
        silo.Services.AddSingleton(sp => new GatewayIdentity(sp.GetRequiredService<ILocalSiloDetails>().SiloAddress.ToParsableString()));
        silo.Services.AddSingleton<CallMetrics>();
        // Push: each provider is on when its section is configured; the dispatcher sends what calls owe (none when both are off).
        silo.Services.AddApnsPush(silo.Configuration);
        silo.Services.AddFcmPush(silo.Configuration);
        silo.Services.TryAddSingleton<PushMetrics>();
        silo.Services.AddSingleton<PushDispatcher>();

        // Webhooks: endpoints in the registry grain, each endpoint's queue in silo memory unless the host registers a
        // durable one first; the dispatcher hands calls' events to the queues, the sweeper wakes endpoints after a crash.
        silo.Services.AddOptions<WebhookOptions>().BindConfiguration(WebhookOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        silo.Services.TryAddSingleton<IWebhookOutbox, MemoryWebhookOutbox>();
        silo.Services.AddSingleton<WebhookMetrics>();
        silo.Services.AddSingleton<WebhookDispatcher>();
        silo.Services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>>(sp => sp.GetRequiredService<WebhookDispatcher>());
        silo.Services.AddSingleton<IWebhookEndpointCache>(sp => sp.GetRequiredService<WebhookDispatcher>());
        silo.Services.AddSingleton<WebhookSweeper>();
        silo.Services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>>(sp => sp.GetRequiredService<WebhookSweeper>());
        silo.Services.AddHttpClient(WebhookDeliveryGrain.HttpClientName, c => c.DefaultRequestHeaders.UserAgent.ParseAdd("CallGrains-Webhooks/1"))
            .ConfigurePrimaryHttpMessageHandler(() => new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(5), AllowAutoRedirect = false });

        // The wake-up, grace and presence indexes are durable only where the host registers durable ones first (Redis).
        silo.Services.TryAddSingleton<IRingDeadlines, NoDeadlines>();
        silo.Services.TryAddSingleton<IGraceDeadlines, NoDeadlines>();
        silo.Services.TryAddSingleton<IPresenceIndex, NoPresenceIndex>();

        // Call history: in silo memory unless the host registers a durable store first (Redis).
        silo.Services.TryAddSingleton<ICallLog, MemoryCallLog>();
        silo.Services.AddSingleton<RingDeadlineSweeper>();
        silo.Services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>>(sp => sp.GetRequiredService<RingDeadlineSweeper>());
        silo.Services.AddSingleton<EdgeLeaseView>();
        silo.Services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>>(sp => sp.GetRequiredService<EdgeLeaseView>());
        silo.Services.AddSingleton<GatewayStatus>();
        silo.Services.AddSingleton<PresenceSweeper>();
        silo.Services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>>(sp => sp.GetRequiredService<PresenceSweeper>());
        return silo;
    }

    /// <summary>
    /// Grain state in silo memory (the embedded default), written with the Orleans binary serializer like the Redis
    /// stores (the JSON default cannot read immutable collections back), in <see cref="MemoryGrainStore"/>: a cleared
    /// state is forgotten, where Orleans' memory storage keeps an entry for every state ever cleared.
    /// </summary>
    public static ISiloBuilder AddCallGrainsMemoryStorage(this ISiloBuilder silo)
    {
        silo.Services.AddSingleton<LocalStoreShards>();
        foreach (var store in StorageNames.All)
        {
            silo.Services.AddKeyedSingleton<IGrainStorage>(store, (sp, _) => new MemoryGrainStore(
                sp.GetRequiredService<IGrainFactory>(),
                new OrleansGrainStorageSerializer(sp.GetRequiredService<Serializer>()),
                sp.GetRequiredService<LocalStoreShards>()));
        }

        return silo;
    }
}
