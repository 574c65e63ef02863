using CallGrains.Abstractions;

namespace CallGrains.Grains.Users;

/// <summary>Publishing: a user's events and close orders to the gateways holding its devices.</summary>
public sealed partial class UserGrain
{
    /// <summary>
    /// Hands a delivery to every gateway holding a device it is for, all at once, each given at most
    /// <see cref="CallOptions.DeliveryTimeoutMilliseconds"/>: one slow or dead gateway delays no other device by more.
    /// A device that missed an event sees a gap in seq and asks for <c>sync</c>; a gateway that is gone loses its devices.
    /// </summary>
    private async Task PublishAsync(GatewayDelivery delivery)
    {
        var gateways = State.Devices.Where(d => delivery.IsFor(d.DeviceId)).Select(d => d.GatewayId).Distinct().ToList();
        if (gateways.Count == 0)
        {
            return;
        }

        var provider = this.GetStreamProvider(StreamNames.Provider);
        var sent = gateways.Select(async gatewayId =>
        {
            if (gatewayStatus.IsDead(gatewayId))
            {
                return gatewayId;
            }

            try
            {
                await provider.GetStream<GatewayDelivery>(StreamId.Create(StreamNames.GatewayNamespace, gatewayId)).OnNextAsync(delivery).WaitAsync(DeliveryTimeout);
                return null;
            }
            catch (Exception ex) when (ex is SiloUnavailableException or OrleansMessageRejectionException or TimeoutException)
            {
                logger.PublishFailed(ex, Uid, delivery.Event?.Type.ToString() ?? "close", gatewayId);

                // Slow or not yet known here is not gone: only a gateway the cluster has declared dead loses its devices
                // (its devices see a gap in seq and sync; the presence sweep and check settle the rest).
                return gatewayStatus.IsDead(gatewayId) ? gatewayId : null;
            }
        });
        var gone = (await Task.WhenAll(sent)).OfType<string>().ToList();
        if (gone.Count > 0)
        {
            await SetDevicesAsync(State.Devices.RemoveAll(d => gone.Contains(d.GatewayId)));
        }
    }

    /// <summary>Orders the sockets of revoked tokens closed; returns whether any such device was still registered.</summary>
    private async Task<bool> CloseRevokedAsync()
    {
        var revoked = State.Devices.Where(d => d.TokenGeneration < State.TokenGeneration).Select(d => d.DeviceId).ToHashSet();
        foreach (var deviceId in revoked)
        {
            await PublishAsync(new GatewayDelivery(Uid, null, null)
            {
                CloseCode = (int)CloseCodes.Revoked,
                OnlyDeviceId = deviceId,
                BelowGeneration = State.TokenGeneration,
            });
        }

        return revoked.Count > 0;
    }
}
