using CallGrains.Abstractions;
using CallGrains.Grains.Deadlines;
using Microsoft.Extensions.Logging;

namespace CallGrains.Grains.Webhooks;

/// <summary>
/// Every <see cref="Interval"/>, wakes the delivery grain of each endpoint that is on, from every silo: a delivery grain
/// whose silo died (and its timers with it) comes back on a live one and goes on with what waits in its queue. A woken
/// grain with nothing due does nothing; a few endpoints cost a few one-way messages per interval.
/// </summary>
public sealed partial class WebhookSweeper(IGrainFactory grains, TimeProvider time, ILogger<WebhookSweeper> logger) : SiloSweeper(time)
{
    protected override TimeSpan Interval => TimeSpan.FromSeconds(10);

    protected override bool Enabled => true;

    protected override async Task SweepAsync(DateTimeOffset now)
    {
        foreach (var endpoint in await grains.GetGrain<IWebhookRegistryGrain>(IWebhookRegistryGrain.Key).List())
        {
            if (endpoint.DisabledAt is null)
            {
                await grains.GetGrain<IWebhookDeliveryGrain>(endpoint.Id).Wake();
            }
        }
    }

    protected override void OnSweepFailed(Exception exception) => LogSweepFailed(exception);

    [LoggerMessage(2321, LogLevel.Warning, "Waking the webhook endpoints failed; retrying next interval")]
    private partial void LogSweepFailed(Exception exception);
}
