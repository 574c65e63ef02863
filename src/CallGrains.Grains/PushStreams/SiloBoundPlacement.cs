using Orleans.Placement;
using Orleans.Runtime.Placement;

namespace CallGrains.Grains.PushStreams;

/// <summary>
/// Places a grain on the silo its key names (the key is a <see cref="SiloAddress"/> in parsable form). A gateway's
/// relay must run where that gateway's sockets are; when that silo is gone the placement fails instead of
/// activating the relay somewhere it can reach no socket.
/// </summary>
[GenerateSerializer, Immutable, Alias("cg.SiloBoundPlacement")]
public sealed class SiloBoundPlacement : PlacementStrategy
{
    public static SiloBoundPlacement Instance { get; } = new();
}

[AttributeUsage(AttributeTargets.Class, AllowMultiple = false)]
public sealed class SiloBoundPlacementAttribute() : PlacementAttribute(SiloBoundPlacement.Instance);

public sealed class SiloBoundPlacementDirector : IPlacementDirector
{
    public Task<SiloAddress> OnAddActivation(PlacementStrategy strategy, PlacementTarget target, IPlacementContext context)
    {
        var key = target.GrainIdentity.Key.ToString()!;
        var silo = SiloAddress.FromParsableString(key);
        if (!context.GetCompatibleSilos(target).Contains(silo))
        {
            throw new SiloUnavailableException($"gateway silo {key} is not in the cluster");
        }

        return Task.FromResult(silo);
    }
}
