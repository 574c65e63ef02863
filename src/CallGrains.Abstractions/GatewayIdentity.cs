using System.Collections.Immutable;

namespace CallGrains.Abstractions;

/// <summary>
/// This silo's gateway. A gateway is named by its silo's address (host, port and generation), so a restarted silo is
/// a new gateway and cluster membership tells whether a gateway is still alive; its events come on the stream of
/// that name in <see cref="StreamNames.GatewayNamespace"/>.
/// </summary>
public sealed class GatewayIdentity(string id)
{
    public string Id { get; } = id;
}

/// <summary>The sockets a gateway holds, as it reports them when a user grain checks that its devices are real.</summary>
public interface IDeviceDirectory
{
    ImmutableArray<HeldDevice> Held(string uid);
}
