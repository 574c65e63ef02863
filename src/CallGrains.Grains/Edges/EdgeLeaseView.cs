using System.Collections.Immutable;
using CallGrains.Abstractions;
using CallGrains.Grains.Deadlines;
using Microsoft.Extensions.Logging;

namespace CallGrains.Grains.Edges;

/// <summary>
/// This silo's copy of the edges' leases (<see cref="IEdgeRegistryGrain"/>), read once a second, so a user grain can
/// tell without a call whether an edge is alive (<see cref="IsDead"/>) and reach it (<see cref="ObserverAsync"/>).
/// </summary>
public sealed partial class EdgeLeaseView(IGrainFactory grains, TimeProvider time, ILogger<EdgeLeaseView> logger) : SiloSweeper(time)
{
    /// <summary>
    /// An edge this silo has not seen a lease of is taken for alive while it is younger than this (it registers before
    /// it takes a socket, so a copy a second old may not have it yet), and for gone after.
    /// </summary>
    public static readonly TimeSpan NewEdgeAge = TimeSpan.FromSeconds(30);

    private View? _view;

    private sealed record View(ImmutableDictionary<string, EdgeLease> Edges, DateTimeOffset Now);

    protected override TimeSpan Interval => EdgeLeases.SiloReadInterval;

    protected override bool Enabled => true;

    protected override void OnSweepFailed(Exception exception) => LogRefreshFailed(exception);

    protected override async Task SweepAsync(DateTimeOffset now) => await RefreshAsync();

    /// <summary>
    /// Whether the edge surely holds no socket: its lease had lapsed when last read, or it has none and is too old to be
    /// new. Before the first read nothing is dead (a silo that has just started knows nothing yet).
    /// </summary>
    public bool IsDead(string edgeId)
    {
        if (Volatile.Read(ref _view) is not { } view)
        {
            return false;
        }

        if (view.Edges.TryGetValue(edgeId, out var lease))
        {
            return lease.ExpiresAt <= view.Now;
        }

        return EdgeIds.StartedAt(edgeId) is not { } started || view.Now - started > NewEdgeAge;
    }

    /// <summary>How to reach the edge; read afresh once if this silo's copy does not have it yet.</summary>
    public async Task<IEdgeObserver?> ObserverAsync(string edgeId)
    {
        if (Volatile.Read(ref _view) is { } view && view.Edges.TryGetValue(edgeId, out var lease))
        {
            return lease.Observer;
        }

        return (await RefreshAsync()).Edges.TryGetValue(edgeId, out var fresh) ? fresh.Observer : null;
    }

    private async Task<View> RefreshAsync()
    {
        var leases = await grains.Ref<IEdgeRegistryGrain>(IEdgeRegistryGrain.Key).List();
        var view = new View(leases.Edges.ToImmutableDictionary(e => e.EdgeId, StringComparer.Ordinal), leases.Now);
        Volatile.Write(ref _view, view);
        return view;
    }

    [LoggerMessage(2336, LogLevel.Warning, "Reading the edges' leases failed; the last copy stays until the next second")]
    private partial void LogRefreshFailed(Exception exception);
}
