using System.Collections.Immutable;
using CallGrains.Abstractions;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Concurrency;

namespace CallGrains.Grains.PushStreams;

/// <summary>Carries one stream item to the silo that owns the stream; used only by <see cref="PushStreamProvider"/>.</summary>
[Alias("cg.IStreamRelayGrain")]
public interface IStreamRelayGrain : IGrainWithStringKey
{
    [Alias("Deliver")]
    Task Deliver(StreamId streamId, object item);

    /// <summary>The sockets of <paramref name="uid"/> this gateway holds now; null when this silo runs no gateway.</summary>
    [Alias("HeldDevices")]
    Task<ImmutableArray<HeldDevice>?> HeldDevices(string uid);
}

/// <summary>
/// One per gateway silo, on that silo (<see cref="SiloBoundPlacementAttribute"/>). Reentrant: deliveries from
/// different publishers interleave, while each publisher's items stay in order because it awaits each one.
/// </summary>
[SiloBoundPlacement, Reentrant]
public sealed class StreamRelayGrain(LocalStreamHub hub, IServiceProvider services) : Grain, IStreamRelayGrain
{
    public Task Deliver(StreamId streamId, object item) => hub.PublishAsync(streamId, item);

    public Task<ImmutableArray<HeldDevice>?> HeldDevices(string uid) =>
        Task.FromResult(services.GetService<IDeviceDirectory>() is { } directory ? directory.Held(uid) : (ImmutableArray<HeldDevice>?)null);
}
