namespace CallGrains.Grains.Delivery;

/// <summary>
/// A gateway is named by its silo's address (host, port and generation), so a restarted silo is a new gateway and
/// cluster membership tells whether a gateway is still alive.
/// </summary>
public sealed class GatewayIdentity(ILocalSiloDetails localSilo)
{
    public string Id { get; } = localSilo.SiloAddress.ToParsableString();

    public StreamId StreamId => StreamId.Create(Abstractions.StreamNames.GatewayNamespace, Id);

    /// <summary>Whether the gateway named <paramref name="gatewayId"/> may still hold sockets.</summary>
    public static bool IsAlive(IClusterMembershipService membership, string gatewayId)
    {
        try
        {
            var status = membership.CurrentSnapshot.GetSiloStatus(SiloAddress.FromParsableString(gatewayId));
            return status is SiloStatus.Active or SiloStatus.Joining or SiloStatus.Created or SiloStatus.ShuttingDown or SiloStatus.Stopping;
        }
        catch (FormatException)
        {
            return false;
        }
    }
}
