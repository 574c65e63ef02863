using CallGrains.Abstractions;
using CallGrains.Grains.Edges;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Streams;

namespace CallGrains.Grains.PushStreams;

/// <summary>
/// An Orleans stream provider that pushes each item with one grain call to the silo that owns the stream, instead
/// of queueing it for a pulling agent. A stream's key is the owning silo's address; only code on that silo can
/// subscribe, which is exactly the one-stream-per-gateway design: the gateway subscribes to its own stream at start.
/// An edge's stream (an edge id as key) goes to the edge's observer (<see cref="IEdgeObserver"/>).
/// Not durable and not rewindable: an item for a silo that is gone is lost, as a socket on it would be.
/// </summary>
public sealed class PushStreamProvider(string name, IGrainFactory grainFactory, LocalStreamHub hub, ILocalSiloDetails localSilo, EdgeLeaseView edges)
    : IStreamProvider
{
    private string? _localSilo;

    public string Name { get; } = name;

    public bool IsRewindable => false;

    public IAsyncStream<T> GetStream<T>(StreamId streamId) => new PushStream<T>(this, streamId);

    /// <summary>
    /// To the stream's silo: with a grain call through its relay, or, for a stream of this silo, straight to the
    /// subscribers here (what the relay would do after a hop that costs a message per event; ringing 100 members on one
    /// silo is 100 of them). Stream items are immutable (<see cref="Abstractions.GatewayDelivery"/>), so passing the same
    /// object is what the relay's call would pass within a silo.
    /// </summary>
    internal Task PublishAsync(StreamId streamId, object item)
    {
        var gateway = streamId.GetKeyAsString();
        return gateway == LocalSilo ? hub.PublishAsync(streamId, item)
            : EdgeIds.IsEdge(gateway) ? PublishToEdgeAsync(gateway, item)
            : grainFactory.Ref<IStreamRelayGrain>(gateway).Deliver(streamId, item);
    }

    /// <summary>An edge's stream ends at the edge itself: one call to its observer, through the silo it is connected to.</summary>
    private async Task PublishToEdgeAsync(string edgeId, object item)
    {
        var edge = await edges.ObserverAsync(edgeId) ?? throw new SiloUnavailableException($"edge {edgeId} has no lease");
        await edge.Deliver((GatewayDelivery)item);
    }

    private string LocalSilo => _localSilo ??= localSilo.SiloAddress.ToParsableString();

    internal LocalStreamHub LocalHub(StreamId streamId) =>
        streamId.GetKeyAsString() == LocalSilo
            ? hub
            : throw new NotSupportedException($"stream {streamId} belongs to silo {streamId.GetKeyAsString()}: subscribe there");

    public static IServiceCollection Register(IServiceCollection services, string name)
    {
        services.AddSingleton<LocalStreamHub>();
        services.AddKeyedSingleton<IStreamProvider>(name, (sp, _) => new PushStreamProvider(
            name,
            sp.GetRequiredService<IGrainFactory>(),
            sp.GetRequiredService<LocalStreamHub>(),
            sp.GetRequiredService<ILocalSiloDetails>(),
            sp.GetRequiredService<EdgeLeaseView>()));
        return services;
    }
}

internal sealed class PushStream<T>(PushStreamProvider provider, StreamId streamId) : IAsyncStream<T>
{
    public StreamId StreamId => streamId;

    public string ProviderName => provider.Name;

    public bool IsRewindable => false;

    public Task OnNextAsync(T item, StreamSequenceToken? token = null) => provider.PublishAsync(streamId, item!);

    public async Task OnNextBatchAsync(IEnumerable<T> batch, StreamSequenceToken? token = null)
    {
        foreach (var item in batch)
        {
            await OnNextAsync(item);
        }
    }

    public Task OnCompletedAsync() => Task.CompletedTask;

    public Task OnErrorAsync(Exception ex) => Task.CompletedTask;

    public Task<StreamSubscriptionHandle<T>> SubscribeAsync(IAsyncObserver<T> observer) => SubscribeAsync(observer, null);

    public Task<StreamSubscriptionHandle<T>> SubscribeAsync(IAsyncObserver<T> observer, StreamSequenceToken? token, string? filterData = null)
    {
        var hub = provider.LocalHub(streamId);
        var id = hub.Subscribe(streamId, LocalStreamHub.Adapt(observer));
        return Task.FromResult<StreamSubscriptionHandle<T>>(new PushSubscriptionHandle<T>(hub, streamId, provider.Name, id));
    }

    public Task<StreamSubscriptionHandle<T>> SubscribeAsync(IAsyncBatchObserver<T> observer) =>
        throw new NotSupportedException("push streams deliver items one at a time");

    public Task<StreamSubscriptionHandle<T>> SubscribeAsync(IAsyncBatchObserver<T> observer, StreamSequenceToken? token) =>
        throw new NotSupportedException("push streams deliver items one at a time");

    public Task<IList<StreamSubscriptionHandle<T>>> GetAllSubscriptionHandles()
    {
        var hub = provider.LocalHub(streamId);
        IList<StreamSubscriptionHandle<T>> handles = [.. hub.Handles(streamId).Select(id => new PushSubscriptionHandle<T>(hub, streamId, provider.Name, id))];
        return Task.FromResult(handles);
    }

    public bool Equals(IAsyncStream<T>? other) => other is not null && other.StreamId.Equals(streamId) && other.ProviderName == ProviderName;

    public override bool Equals(object? obj) => obj is IAsyncStream<T> other && Equals(other);

    public override int GetHashCode() => HashCode.Combine(streamId, ProviderName);

    public int CompareTo(IAsyncStream<T>? other) => other is null ? 1 : streamId.CompareTo(other.StreamId);
}

internal sealed class PushSubscriptionHandle<T>(LocalStreamHub hub, StreamId streamId, string providerName, Guid handleId) : StreamSubscriptionHandle<T>
{
    public override StreamId StreamId => streamId;

    public override string ProviderName => providerName;

    public override Guid HandleId => handleId;

    public override Task UnsubscribeAsync()
    {
        hub.Unsubscribe(streamId, handleId);
        return Task.CompletedTask;
    }

    public override Task<StreamSubscriptionHandle<T>> ResumeAsync(IAsyncObserver<T> observer, StreamSequenceToken? token = null)
    {
        hub.Unsubscribe(streamId, handleId);
        var id = hub.Subscribe(streamId, LocalStreamHub.Adapt(observer));
        return Task.FromResult<StreamSubscriptionHandle<T>>(new PushSubscriptionHandle<T>(hub, streamId, providerName, id));
    }

    public override Task<StreamSubscriptionHandle<T>> ResumeAsync(IAsyncBatchObserver<T> observer, StreamSequenceToken? token = null) =>
        throw new NotSupportedException("push streams deliver items one at a time");

    public override bool Equals(StreamSubscriptionHandle<T>? other) => other is not null && other.HandleId == handleId;

    public override bool Equals(object? obj) => obj is StreamSubscriptionHandle<T> other && Equals(other);

    public override int GetHashCode() => handleId.GetHashCode();
}
