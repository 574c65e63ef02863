using CallGrains.Client.Internal;

namespace CallGrains.Client.Tests;

/// <summary>The queue between the socket reader and the app's handlers: in order, and bounded when a handler blocks.</summary>
public sealed class EventDispatcherTests
{
    [Fact]
    public async Task A_blocked_handler_keeps_only_the_newest_events_up_to_the_cap_and_they_still_run_in_order()
    {
        var dispatcher = new EventDispatcher();
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var seen = new List<int>();
        dispatcher.Post(async () =>
        {
            started.SetResult();
            await release.Task;
        });
        await started.Task.WaitAsync(TimeSpan.FromSeconds(30));

        const int Posted = EventDispatcher.MaxQueued + 1_000;
        for (var i = 0; i < Posted; i++)
        {
            var n = i;
            dispatcher.Post(() => seen.Add(n));
        }

        release.SetResult();
        await dispatcher.CompleteAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(Enumerable.Range(Posted - EventDispatcher.MaxQueued, EventDispatcher.MaxQueued), seen);
    }
}
