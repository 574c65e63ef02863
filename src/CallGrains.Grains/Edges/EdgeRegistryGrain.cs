using System.Collections.Immutable;
using CallGrains.Abstractions;
using CallGrains.Grains.Storage;
using Microsoft.Extensions.Logging;

namespace CallGrains.Grains.Edges;

/// <summary>Which edges there are and how to reach them; when each lease ends is kept in memory only.</summary>
[GenerateSerializer, Alias("cg.EdgeRegistryState")]
public sealed record EdgeRegistryState
{
    [Id(0)] public ImmutableDictionary<string, IEdgeObserver> Edges { get; init; } = ImmutableDictionary<string, IEdgeObserver>.Empty;
}

/// <summary>
/// The edges' leases (<see cref="IEdgeRegistryGrain"/>), one grain per cluster. A renewal changes memory only; the
/// stored state changes when an edge comes or is forgotten, so a few edges renewing every two seconds cost no writes.
/// When this grain moves (its silo died), every stored edge gets a fresh lease: one that died meanwhile is declared
/// dead one <see cref="EdgeLeases.Ttl"/> later than it would have been, never a live one too early. A lapsed lease is
/// kept for <see cref="KeepLapsed"/> so every silo's presence sweep sees it, then forgotten.
/// </summary>
public sealed class EdgeRegistryGrain(
    [PersistentState("edges", StorageNames.Default)] IPersistentState<EdgeRegistryState> state,
    TimeProvider time,
    ILogger<EdgeRegistryGrain> logger) : Grain, IEdgeRegistryGrain
{
    public static readonly TimeSpan KeepLapsed = TimeSpan.FromMinutes(10);

    private readonly Dictionary<string, DateTimeOffset> _expires = new(StringComparer.Ordinal);

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        var fresh = time.GetUtcNow() + EdgeLeases.Ttl;
        foreach (var edgeId in state.State.Edges.Keys)
        {
            _expires[edgeId] = fresh;
        }

        return Task.CompletedTask;
    }

    public async Task<bool> Renew(string edgeId, IEdgeObserver observer)
    {
        if (!EdgeIds.IsEdge(edgeId))
        {
            throw new ArgumentException($"{edgeId} is not an edge id", nameof(edgeId));
        }

        var now = time.GetUtcNow();
        var live = _expires.TryGetValue(edgeId, out var expires) && expires > now;
        await ForgetLapsedAsync(now);
        if (!state.State.Edges.TryGetValue(edgeId, out var stored) || !stored.Equals(observer))
        {
            if (!state.State.Edges.ContainsKey(edgeId) && state.State.Edges.Count >= EdgeLeases.MaxEdges)
            {
                throw new InvalidOperationException($"the cluster already has {EdgeLeases.MaxEdges} edges");
            }

            state.State = state.State with { Edges = state.State.Edges.SetItem(edgeId, observer) };
            await state.WriteStateAsync();
            logger.EdgeJoined(edgeId);
        }

        _expires[edgeId] = now + EdgeLeases.Ttl;
        if (!live && expires != default)
        {
            logger.EdgeLeaseRenewedLate(edgeId);
        }

        return live;
    }

    public Task Leave(string edgeId)
    {
        if (_expires.ContainsKey(edgeId))
        {
            _expires[edgeId] = time.GetUtcNow();
            logger.EdgeLeft(edgeId);
        }

        return Task.CompletedTask;
    }

    public Task<EdgeLeases> List()
    {
        var now = time.GetUtcNow();
        return Task.FromResult(new EdgeLeases(
            [.. state.State.Edges.Select(e => new EdgeLease(e.Key, e.Value, _expires.GetValueOrDefault(e.Key, now)))],
            now));
    }

    private async Task ForgetLapsedAsync(DateTimeOffset now)
    {
        var forget = _expires.Where(e => e.Value + KeepLapsed < now).Select(e => e.Key).ToList();
        if (forget.Count == 0)
        {
            return;
        }

        state.State = state.State with { Edges = state.State.Edges.RemoveRange(forget) };
        await state.WriteStateAsync();
        foreach (var edgeId in forget)
        {
            _expires.Remove(edgeId);
        }
    }
}
