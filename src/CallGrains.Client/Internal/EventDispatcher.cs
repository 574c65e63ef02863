using System.Diagnostics;
using System.Threading.Channels;

namespace CallGrains.Client.Internal;

/// <summary>
/// Raises the client's events one at a time, in the order they were posted, on a loop of its own: the socket reader
/// only queues them, so a slow or blocked handler delays later events but never the reading of responses.
/// </summary>
internal sealed class EventDispatcher
{
    private static readonly AsyncLocal<EventDispatcher?> Running = new();

    /// <summary>
    /// Events waiting for a handler at most. Past it (a handler that never returns while events keep coming) the oldest
    /// are dropped, with a trace error: memory stays bounded, and <c>CurrentCall</c>/<c>RingingCalls</c> stay right,
    /// since the view is kept by the reader, not by the handlers.
    /// </summary>
    public const int MaxQueued = 4_096;

    private readonly Channel<Func<Task>> _queue = Channel.CreateBounded<Func<Task>>(
        new BoundedChannelOptions(MaxQueued) { SingleReader = true, FullMode = BoundedChannelFullMode.DropOldest },
        _ => Trace.TraceError($"CallGrains.Client: more than {MaxQueued} events wait for a blocked handler; the oldest is dropped"));
    private readonly Task _loop;

    public EventDispatcher() => _loop = Task.Run(RunAsync);

    /// <summary>True on the dispatcher's own loop (inside an event handler).</summary>
    public bool IsCurrent => Running.Value == this;

    public void Post(Action raise) => Post(() =>
    {
        raise();
        return Task.CompletedTask;
    });

    public void Post(Func<Task> work) => _queue.Writer.TryWrite(work);

    /// <summary>Raises what is queued, then stops; waits at most <paramref name="timeout"/> (not at all from inside a handler).</summary>
    public async Task CompleteAsync(TimeSpan timeout)
    {
        _queue.Writer.TryComplete();
        if (!IsCurrent)
        {
            await Task.WhenAny(_loop, Task.Delay(timeout)).ConfigureAwait(false);
        }
    }

    private async Task RunAsync()
    {
        Running.Value = this;
        await foreach (var work in _queue.Reader.ReadAllAsync().ConfigureAwait(false))
        {
            try
            {
                await work().ConfigureAwait(false);
            }
#pragma warning disable CA1031 // An application's handler that throws must not stop the events that follow.
            catch (Exception ex)
#pragma warning restore CA1031
            {
                Trace.TraceError($"CallGrains.Client: an event handler threw: {ex}");
            }
        }
    }
}
