using System.Collections.Immutable;
using System.Globalization;

namespace CallGrains.Abstractions;

/// <summary>
/// An edge gateway (<c>Orleans:Role=edge</c>): a process that holds client sockets and joins the cluster as an Orleans
/// client, hosting no grains. Silos reach it through this observer, one hop from a user grain to the edge.
/// </summary>
[Alias("cg.IEdgeObserver")]
public interface IEdgeObserver : IGrainObserver
{
    /// <summary>A user's event or close order, for the sockets this edge holds (as a gateway silo's stream item).</summary>
    [Alias("Deliver")]
    Task Deliver(GatewayDelivery delivery);

    /// <summary>The sockets of <paramref name="uid"/> this edge holds now.</summary>
    [Alias("HeldDevices")]
    Task<ImmutableArray<HeldDevice>> HeldDevices(string uid);
}

/// <summary>
/// The edges' leases. Silo membership does not list clients, so an edge renews a lease here every few seconds; an edge
/// whose lease has lapsed is dead to the silos (its users' devices drop, as for a dead gateway silo). Leases and
/// observers are kept in grain storage, so every silo reads the same ones, also after this grain moves.
/// </summary>
[Alias("cg.IEdgeRegistryGrain")]
public interface IEdgeRegistryGrain : IGrainWithStringKey
{
    public const string Key = "edges";

    /// <summary>
    /// Takes or renews the edge's lease for <see cref="EdgeLeases.Ttl"/>; returns false if it had lapsed (or was never
    /// taken): the silos may have dropped the edge's devices meanwhile, and the edge must restore them.
    /// </summary>
    [Alias("Renew")]
    Task<bool> Renew(string edgeId, IEdgeObserver observer);

    /// <summary>The edge is stopping: its lease lapses now.</summary>
    [Alias("Leave")]
    Task Leave(string edgeId);

    /// <summary>Every lease, live or lapsed (lapsed ones are kept a while, so the silos can tell their users).</summary>
    [Alias("List")]
    Task<EdgeLeases> List();
}

[GenerateSerializer, Immutable, Alias("cg.EdgeLease")]
public sealed record EdgeLease(
    [property: Id(0)] string EdgeId,
    [property: Id(1)] IEdgeObserver Observer,
    [property: Id(2)] DateTimeOffset ExpiresAt);

/// <summary>The leases as the registry sees them at <see cref="Now"/> (its clock decides what has lapsed).</summary>
[GenerateSerializer, Immutable, Alias("cg.EdgeLeases")]
public sealed record EdgeLeases([property: Id(0)] ImmutableArray<EdgeLease> Edges, [property: Id(1)] DateTimeOffset Now)
{
    /// <summary>How long a lease lasts without renewal.</summary>
    public static readonly TimeSpan Ttl = TimeSpan.FromSeconds(8);

    /// <summary>How often an edge renews: three renewals may fail before the lease lapses.</summary>
    public static readonly TimeSpan RenewInterval = TimeSpan.FromSeconds(2);

    /// <summary>How often every silo reads the leases: a renewal counts everywhere this much later at most, when reads succeed.</summary>
    public static readonly TimeSpan SiloReadInterval = TimeSpan.FromSeconds(1);

    /// <summary>At most this many edges in one cluster; a new one beyond it is refused.</summary>
    public const int MaxEdges = 1024;
}

/// <summary>
/// Edge gateway ids: <c>edge-{start, Unix ms}-{random}</c>. The start time lets a silo that has not seen an edge's lease
/// yet tell a new edge (alive) from one whose lease it should have seen long ago (gone).
/// </summary>
public static class EdgeIds
{
    private const string Prefix = "edge-";

    public static string New(DateTimeOffset now) =>
        $"{Prefix}{now.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture)}-{Guid.NewGuid():N}"[..(Prefix.Length + 13 + 1 + 12)];

    public static bool IsEdge(string gatewayId) => gatewayId.StartsWith(Prefix, StringComparison.Ordinal);

    /// <summary>When the edge started, or null for an id that is not an edge's.</summary>
    public static DateTimeOffset? StartedAt(string gatewayId)
    {
        if (!IsEdge(gatewayId))
        {
            return null;
        }

        var rest = gatewayId.AsSpan(Prefix.Length);
        var dash = rest.IndexOf('-');
        return dash > 0 && long.TryParse(rest[..dash], NumberStyles.None, CultureInfo.InvariantCulture, out var ms)
            ? DateTimeOffset.FromUnixTimeMilliseconds(ms)
            : null;
    }
}

/// <summary>History reads for an edge, which has no call log store of its own: served by any silo.</summary>
[Alias("cg.ICallLogReaderGrain")]
public interface ICallLogReaderGrain : IGrainWithIntegerKey
{
    [Alias("Query")]
    Task<CallLogPage> Query(string uid, CallLogQuery query);

    [Alias("Find")]
    Task<CallInfo?> Find(string sessionId);
}
