using System.Collections.Immutable;
using CallGrains.Abstractions;
using CallGrains.Grains.Edges;

namespace CallGrains.Grains.PushStreams;

/// <summary>
/// Whether a gateway is alive and what it holds, for both kinds: a gateway silo (named by its address, alive while
/// cluster membership says so) and an edge (an Orleans client, alive while its lease is, <see cref="EdgeLeaseView"/>).
/// </summary>
public sealed class GatewayStatus(IClusterMembershipService membership, EdgeLeaseView edges, IGrainFactory grains)
{
    /// <summary>Whether the gateway surely holds no socket (<see cref="Gateways.IsDead"/>, <see cref="EdgeLeaseView.IsDead"/>).</summary>
    public bool IsDead(string gatewayId) => EdgeIds.IsEdge(gatewayId) ? edges.IsDead(gatewayId) : Gateways.IsDead(membership, gatewayId);

    /// <summary>The sockets of <paramref name="uid"/> the gateway holds now; null when that silo runs no gateway.</summary>
    public async Task<ImmutableArray<HeldDevice>?> HeldDevicesAsync(string gatewayId, string uid)
    {
        if (!EdgeIds.IsEdge(gatewayId))
        {
            return await grains.Ref<IStreamRelayGrain>(gatewayId).HeldDevices(uid);
        }

        return await edges.ObserverAsync(gatewayId) is { } edge
            ? await edge.HeldDevices(uid)
            : throw new SiloUnavailableException($"edge {gatewayId} has no lease");
    }
}

/// <summary>What cluster membership says about a gateway, named by its silo's address (<see cref="GatewayIdentity"/>).</summary>
public static class Gateways
{
    /// <summary>
    /// Whether the gateway surely holds no socket: its silo is declared dead; or it is not in the membership view and
    /// either a later generation of the same endpoint has joined or it is older than every active silo (its entry was
    /// cleaned from the table long ago). A silo that this silo's view has not heard of yet (it has just started, so its
    /// generation is the newest) is not dead.
    /// </summary>
    public static bool IsDead(IClusterMembershipService membership, string gatewayId)
    {
        if (Silo(gatewayId) is not { } silo)
        {
            return true;
        }

        var snapshot = membership.CurrentSnapshot;
        return snapshot.GetSiloStatus(silo) switch
        {
            SiloStatus.Dead => true,
            SiloStatus.None => snapshot.Members.Keys.Any(m => m.Endpoint.Equals(silo.Endpoint) && m.Generation > silo.Generation)
                || snapshot.Members.Where(m => m.Value.Status == SiloStatus.Active).All(m => m.Key.Generation > silo.Generation),
            _ => false,
        };
    }

    /// <summary>The silo a gateway id names, or null for an id that is not one.</summary>
    public static SiloAddress? Silo(string gatewayId)
    {
        try
        {
            return SiloAddress.FromParsableString(gatewayId);
        }
        catch (FormatException)
        {
            return null;
        }
    }
}
