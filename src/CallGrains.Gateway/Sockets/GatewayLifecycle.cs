using CallGrains.Abstractions;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Streams;

namespace CallGrains.Gateway.Sockets;

/// <summary>
/// Subscribes this gateway to its own event stream when the host starts (a restarted silo has a new address, so a
/// new stream, and subscribes again here), and on stop tells every socket 1012 so clients reconnect elsewhere.
/// </summary>
internal sealed class GatewayLifecycle(
    [FromKeyedServices(StreamNames.Provider)] IStreamProvider streams,
    GatewayIdentity gateway,
    ConnectionRegistry registry,
    IHostApplicationLifetime lifetime,
    ILogger<GatewayLifecycle> logger) : IHostedService
{
    private StreamSubscriptionHandle<GatewayDelivery>? _subscription;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        _subscription = await streams.GetStream<GatewayDelivery>(StreamId.Create(StreamNames.GatewayNamespace, gateway.Id))
            .SubscribeAsync((delivery, _) => registry.DeliverAsync(delivery));
        logger.Subscribed(gateway.Id);
        lifetime.ApplicationStopping.Register(Drain);
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_subscription is not null)
        {
            await _subscription.UnsubscribeAsync();
        }
    }

    /// <summary>
    /// Runs first when the host stops, before Kestrel stops: every socket is told 1012 (queued behind what it is
    /// already owed). Kestrel then waits, up to the host's shutdown timeout, for the socket handlers to finish, which
    /// they do once the close handshake is done; the silo stops after that. Nothing here blocks.
    /// </summary>
    private void Drain() => Drain(registry, logger);

    internal static void Drain(ConnectionRegistry registry, ILogger logger)
    {
        var open = registry.All().ToList();
        logger.Draining(open.Count);
        foreach (var connection in open)
        {
            connection.Close(CloseCodes.ServiceRestart, "service restart: reconnect");
        }
    }
}
