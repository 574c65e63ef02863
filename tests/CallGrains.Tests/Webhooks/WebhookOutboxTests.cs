using CallGrains.Abstractions;
using CallGrains.Grains.Webhooks;
using CallGrains.Host.Redis;
using CallGrains.LocalCluster;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using StackExchange.Redis;

namespace CallGrains.Tests.Webhooks;

/// <summary>What every endpoint queue store does: in order, each event once, bounded, finished ones kept and listed.</summary>
public abstract class WebhookOutboxTests : IAsyncLifetime
{
    private static readonly DateTimeOffset Now = new(2026, 12, 2, 10, 0, 0, TimeSpan.Zero);

    protected IWebhookOutbox Outbox { get; set; } = null!;

    public abstract Task InitializeAsync();

    public abstract Task DisposeAsync();

    [Fact]
    public async Task Events_wait_in_the_order_they_came_and_an_event_queued_again_is_taken_once()
    {
        var endpoint = NewEndpoint();
        Assert.Equal(3, await Outbox.AppendAsync(endpoint, [Message("a"), Message("b"), Message("c")], 100, Now));
        Assert.Equal(1, await Outbox.AppendAsync(endpoint, [Message("b"), Message("d")], 100, Now));
        Assert.Equal(["a", "b", "c", "d"], (await Outbox.PendingAsync(endpoint, 10)).Select(p => p.Message.WebhookId));

        // Delivered, then queued again (a session handing its events on again after a crash): not taken.
        await Outbox.RecordAsync(endpoint, "a", new WebhookAttempt(Now, 200, null, 3), WebhookDeliveryStatus.Delivered, null, 100);
        Assert.Equal(0, await Outbox.AppendAsync(endpoint, [Message("a")], 100, Now));
        Assert.Equal(["b", "c", "d"], (await Outbox.PendingAsync(endpoint, 10)).Select(p => p.Message.WebhookId));
        Assert.Equal(3, await Outbox.BacklogAsync(endpoint));
    }

    [Fact]
    public async Task A_failed_attempt_keeps_the_delivery_waiting_with_its_attempts_and_the_finished_are_listed_newest_first()
    {
        var endpoint = NewEndpoint();
        await Outbox.AppendAsync(endpoint, [Message("a"), Message("b")], 100, Now);
        await Outbox.RecordAsync(endpoint, "a", new WebhookAttempt(Now, 500, null, 12.5), WebhookDeliveryStatus.Pending, Now.AddSeconds(5), 100);
        var waiting = (await Outbox.PendingAsync(endpoint, 10))[0];
        Assert.Equal((500, Now.AddSeconds(5)), (waiting.Attempts.Single().StatusCode!.Value, waiting.NextAttemptAt));

        await Outbox.RecordAsync(endpoint, "a", new WebhookAttempt(Now.AddSeconds(5), 200, null, 4), WebhookDeliveryStatus.Delivered, null, 100);
        await Outbox.RecordAsync(endpoint, "b", new WebhookAttempt(Now.AddSeconds(6), null, "refused", 1), WebhookDeliveryStatus.Failed, null, 100);
        Assert.Equal(["b", "a"], (await Outbox.DeliveriesAsync(endpoint, null, 10)).Select(d => d.WebhookId));
        var delivered = Assert.Single(await Outbox.DeliveriesAsync(endpoint, WebhookDeliveryStatus.Delivered, 10));
        Assert.Equal([500, 200], delivered.Attempts.Select(x => x.StatusCode));
        Assert.Empty(await Outbox.DeliveriesAsync(endpoint, WebhookDeliveryStatus.Pending, 10));
    }

    [Fact]
    public async Task Past_the_bound_the_oldest_fail_and_the_kept_history_is_bounded_too()
    {
        var endpoint = NewEndpoint();
        await Outbox.AppendAsync(endpoint, [.. Enumerable.Range(0, 8).Select(i => Message($"m{i}"))], 5, Now);
        Assert.Equal(["m3", "m4", "m5", "m6", "m7"], (await Outbox.PendingAsync(endpoint, 10)).Select(p => p.Message.WebhookId));
        var dropped = await Outbox.DeliveriesAsync(endpoint, WebhookDeliveryStatus.Failed, 10);
        Assert.Equal(3, dropped.Count);
        Assert.All(dropped, d => Assert.Contains("backlog", d.Attempts[^1].Error));

        foreach (var id in new[] { "m3", "m4", "m5", "m6" })
        {
            await Outbox.RecordAsync(endpoint, id, new WebhookAttempt(Now, 200, null, 1), WebhookDeliveryStatus.Delivered, null, 2);
        }

        // Pending first, then the finished newest first, two kept (the three dropped earlier are past that).
        Assert.Equal(["m7", "m6", "m5"], (await Outbox.DeliveriesAsync(endpoint, null, 10)).Select(d => d.WebhookId));
        await Outbox.FailAllAsync(endpoint, "endpoint disabled", Now, 2);
        Assert.Empty(await Outbox.PendingAsync(endpoint, 10));
        await Outbox.DeleteAsync(endpoint);
        Assert.Empty(await Outbox.DeliveriesAsync(endpoint, null, 10));
    }

    private static string NewEndpoint() => $"wh_{Guid.NewGuid():N}";

    private static WebhookMessage Message(string id) => new(id, WebhookEvents.Initiated, "s-" + id, Now, $$"""{"type":"call.initiated","id":"{{id}}"}""");
}

public sealed class MemoryWebhookOutboxTests : WebhookOutboxTests
{
    public override Task InitializeAsync()
    {
        Outbox = new MemoryWebhookOutbox();
        return Task.CompletedTask;
    }

    public override Task DisposeAsync() => Task.CompletedTask;
}

/// <summary>The production store, <see cref="RedisWebhookOutbox"/>, against a real redis-server started for the class.</summary>
public sealed class RedisWebhookOutboxTests : WebhookOutboxTests
{
    private RedisProcess _redis = null!;

    public override async Task InitializeAsync()
    {
        _redis = await RedisProcess.StartAsync();
        Outbox = new RedisWebhookOutbox(ConfigurationOptions.Parse(_redis.ConnectionString), Options.Create(new ClusterOptions { ServiceId = "wh-tests" }));
    }

    public override async Task DisposeAsync()
    {
        await ((RedisWebhookOutbox)Outbox).DisposeAsync();
        await _redis.DisposeAsync();
    }
}
