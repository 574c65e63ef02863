using System.Collections.Immutable;
using System.Reflection;
using CallGrains.Abstractions;
using CallGrains.Grains.Webhooks;
using Microsoft.Extensions.Logging.Abstractions;

namespace CallGrains.Tests.Webhooks;

/// <summary>
/// The silo's dispatcher between a call and its endpoints' queues, with the grains it talks to played here, so a
/// hand-on can fail at a chosen moment (the endpoint's queue was on a silo that died).
/// </summary>
public sealed class WebhookDispatcherTests
{
    private static readonly DateTimeOffset Now = WebhookPlanTests.Now;

    private static readonly CallInfo Call = WebhookPlanTests.Ringing;

    private static readonly WebhookDue Initiated = new("s1.1.0", WebhookEvents.Initiated, Call, Now);

    private static readonly WebhookDue Rejected = new("s1.2.0", WebhookEvents.Rejected, Call with { Status = CallStatus.Rejected }, Now);

    [Fact]
    public async Task A_failed_hand_on_lets_no_later_event_of_the_call_reach_the_endpoint_first()
    {
        var grains = new Grains();
        var dispatcher = new WebhookDispatcher(Stub.Of<IGrainFactory>(grains.Handle), Stub.Of<IServiceProvider>(grains.Handle), TimeProvider.System, NullLogger<WebhookDispatcher>.Instance);

        // The first batch hangs at the endpoint's queue (its silo is dying); the call's next transition is handed
        // on meanwhile, as the session does: everything it still owes, in order.
        Assert.True(dispatcher.Dispatch("s1", [Initiated]));
        await grains.FirstEnqueueStarted.Task.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.True(dispatcher.Dispatch("s1", [Initiated, Rejected]));
        grains.FailFirstEnqueue.SetResult();

        // The session hands on what it still owes until the dispatcher reports it done (every few seconds; here at once).
        for (var attempt = 0; attempt < 200 && !grains.Done.Contains(Rejected.Id); attempt++)
        {
            await Task.Delay(25);
            Assert.True(dispatcher.Dispatch("s1", [.. new[] { Initiated, Rejected }.Where(d => !grains.Done.Contains(d.Id))]));
        }

        Assert.Equal([WebhookEvents.Initiated, WebhookEvents.Rejected], grains.Queued.Select(m => m.Type).Distinct());
        Assert.Equal(WebhookEvents.Initiated, grains.Queued[0].Type);
        Assert.Contains(Rejected.Id, grains.Done);
    }

    /// <summary>The registry, one endpoint's queue and the call, as the dispatcher sees them.</summary>
    private sealed class Grains
    {
        private static readonly WebhookEndpoint Endpoint = new("ep1", "https://example.test/hook", [WebhookEvents.All], "secret", Now);

        private int _enqueues;

        public TaskCompletionSource FirstEnqueueStarted { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TaskCompletionSource FailFirstEnqueue { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public List<WebhookMessage> Queued { get; } = [];

        public HashSet<string> Done { get; } = [];

        public object? Handle(MethodInfo method, object?[] args)
        {
            switch (method.Name)
            {
                case nameof(IGrainFactory.GetGrain) when method.ReturnType == typeof(IWebhookRegistryGrain):
                    return Stub.Of<IWebhookRegistryGrain>(Handle);
                case nameof(IGrainFactory.GetGrain) when method.ReturnType == typeof(IWebhookDeliveryGrain):
                    return Stub.Of<IWebhookDeliveryGrain>(Handle);
                case nameof(IGrainFactory.GetGrain) when method.ReturnType == typeof(ICallSessionGrain):
                    return Stub.Of<ICallSessionGrain>(Handle);
                case nameof(IServiceProvider.GetService) when (Type)args[0]! == typeof(IWireText):
                    return Stub.Of<IWireText>(Handle);
                case nameof(IWireText.CallJson):
                    return "{}";
                case nameof(IWebhookRegistryGrain.List):
                    return Task.FromResult(ImmutableArray.Create(Endpoint));
                case nameof(IWebhookDeliveryGrain.Enqueue):
                    return EnqueueAsync((ImmutableArray<WebhookMessage>)args[0]!);
                case nameof(ICallSessionGrain.WebhooksDone):
                    lock (Done)
                    {
                        Done.UnionWith(((ImmutableArray<string>)args[0]!).Select(id => id));
                    }

                    return Task.CompletedTask;
                default:
                    throw new NotSupportedException(method.Name);
            }
        }

        private async Task EnqueueAsync(ImmutableArray<WebhookMessage> messages)
        {
            if (Interlocked.Increment(ref _enqueues) == 1)
            {
                FirstEnqueueStarted.SetResult();
                await FailFirstEnqueue.Task;
                throw new InvalidOperationException("the silo holding the endpoint's queue died");
            }

            lock (Queued)
            {
                Queued.AddRange(messages.Where(m => Queued.All(q => q.WebhookId != m.WebhookId)));
            }
        }
    }
}

/// <summary>Objects of an interface whose calls all go to one handler (System.Reflection.DispatchProxy).</summary>
public class Stub : DispatchProxy
{
    private Func<MethodInfo, object?[], object?> _handler = null!;

    public static T Of<T>(Func<MethodInfo, object?[], object?> handler)
        where T : class
    {
        var proxy = Create<T, Stub>();
        ((Stub)(object)proxy)._handler = handler;
        return proxy;
    }

    protected override object? Invoke(MethodInfo? targetMethod, object?[]? args) => _handler(targetMethod!, args ?? []);
}
