using CallGrains.Abstractions;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace CallGrains.Grains;

public static class SiloBuilderExtensions
{
    /// <summary>
    /// What every CallGrains silo needs whatever its storage: options, the clock, and the event stream provider.
    /// Storage ("Default", "PubSubStore"), clustering and reminders are the host's choice.
    /// </summary>
    public static ISiloBuilder AddCallGrains(this ISiloBuilder silo, TimeSpan? streamPollPeriod = null)
    {
        silo.Services.AddOptions<CallOptions>().BindConfiguration(CallOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        silo.Services.AddOptions<DeviceOptions>().BindConfiguration(DeviceOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        silo.Services.TryAddSingleton(TimeProvider.System);

        // Memory streams deliver by polling their queues; the default 100 ms period would add up to 100 ms to
        // every event. 10 ms is the measured knee (docs/architecture.md); the gateway issue revisits delivery.
        silo.AddMemoryStreams(StreamNames.Provider, streams => streams.ConfigurePullingAgent(agent =>
            agent.Configure(o => o.GetQueueMsgsTimerPeriod = streamPollPeriod ?? TimeSpan.FromMilliseconds(10))));
        return silo;
    }
}
