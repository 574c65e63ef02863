using System.Collections.Immutable;
using CallGrains.Abstractions;

namespace CallGrains.Grains.Webhooks;

/// <summary>
/// Each endpoint's queue of deliveries and its recent finished ones. Used by the endpoint's
/// <see cref="WebhookDeliveryGrain"/> only, so one writer per endpoint. In silo memory by default (the embedded host);
/// a host with a durable store registers its own first.
/// </summary>
public interface IWebhookOutbox
{
    /// <summary>Appends the messages not seen before (by webhook id, pending or kept finished); past the bound the oldest pending fail. Returns how many were new.</summary>
    Task<int> AppendAsync(string endpointId, IReadOnlyList<WebhookMessage> messages, int maxPending, DateTimeOffset now);

    /// <summary>Up to <paramref name="max"/> pending deliveries, oldest first.</summary>
    Task<IReadOnlyList<PendingWebhook>> PendingAsync(string endpointId, int max);

    /// <summary>Records an attempt; <paramref name="status"/> Pending keeps it waiting until <paramref name="nextAttemptAt"/>, otherwise it is finished.</summary>
    Task RecordAsync(string endpointId, string webhookId, WebhookAttempt attempt, WebhookDeliveryStatus status, DateTimeOffset? nextAttemptAt, int keep);

    /// <summary>Fails every pending delivery (the endpoint was disabled) with this error.</summary>
    Task FailAllAsync(string endpointId, string reason, DateTimeOffset now, int keep);

    /// <summary>Recent deliveries, newest first: pending ones and finished ones kept.</summary>
    Task<IReadOnlyList<WebhookDelivery>> DeliveriesAsync(string endpointId, WebhookDeliveryStatus? status, int limit);

    /// <summary>How many wait.</summary>
    Task<long> BacklogAsync(string endpointId);

    Task DeleteAsync(string endpointId);
}

/// <summary>A delivery that waits: the message, its attempts so far, when it is tried next.</summary>
public sealed record PendingWebhook(WebhookMessage Message, ImmutableArray<WebhookAttempt> Attempts, DateTimeOffset NextAttemptAt);
