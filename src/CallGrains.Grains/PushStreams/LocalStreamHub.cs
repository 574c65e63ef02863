using System.Collections.Concurrent;
using System.Collections.Immutable;
using Orleans.Streams;

namespace CallGrains.Grains.PushStreams;

/// <summary>The subscribers in this silo of the push streams this silo owns.</summary>
public sealed class LocalStreamHub
{
    /// <summary>Subscribers per stream: a gateway subscribes once; tests add a few.</summary>
    public const int MaxSubscribersPerStream = 64;

    private readonly ConcurrentDictionary<StreamId, ImmutableArray<Subscriber>> _subscribers = new();

    internal sealed record Subscriber(Guid HandleId, Func<object, Task> OnNext);

    internal Guid Subscribe(StreamId streamId, Func<object, Task> onNext)
    {
        var subscriber = new Subscriber(Guid.NewGuid(), onNext);
        _subscribers.AddOrUpdate(
            streamId,
            _ => [subscriber],
            (_, list) => list.Length >= MaxSubscribersPerStream
                ? throw new InvalidOperationException($"stream {streamId} already has {list.Length} subscribers")
                : list.Add(subscriber));
        return subscriber.HandleId;
    }

    internal void Unsubscribe(StreamId streamId, Guid handleId) =>
        _subscribers.AddOrUpdate(streamId, _ => [], (_, list) => list.RemoveAll(s => s.HandleId == handleId));

    internal ImmutableArray<Guid> Handles(StreamId streamId) =>
        _subscribers.TryGetValue(streamId, out var list) ? [.. list.Select(s => s.HandleId)] : [];

    internal async Task PublishAsync(StreamId streamId, object item)
    {
        if (!_subscribers.TryGetValue(streamId, out var list))
        {
            return;
        }

        foreach (var subscriber in list)
        {
            await subscriber.OnNext(item);
        }
    }

    /// <summary>For subscription handles: the observer callbacks of a stream, typed.</summary>
    internal static Func<object, Task> Adapt<T>(IAsyncObserver<T> observer) => item => observer.OnNextAsync((T)item);
}
