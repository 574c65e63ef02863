using Orleans.Concurrency;

namespace CallGrains.Grains.Delivery;

/// <summary>Carries one stream item to the silo that owns the stream; used only by <see cref="PushStreamProvider"/>.</summary>
[Alias("cg.IStreamRelayGrain")]
public interface IStreamRelayGrain : IGrainWithStringKey
{
    [Alias("Deliver")]
    Task Deliver(StreamId streamId, object item);
}

/// <summary>
/// One per gateway silo, on that silo (<see cref="SiloBoundPlacementAttribute"/>). Reentrant: deliveries from
/// different publishers interleave, while each publisher's items stay in order because it awaits each one.
/// </summary>
[SiloBoundPlacement, Reentrant]
public sealed class StreamRelayGrain(LocalStreamHub hub) : Grain, IStreamRelayGrain
{
    public Task Deliver(StreamId streamId, object item) => hub.PublishAsync(streamId, item);
}
