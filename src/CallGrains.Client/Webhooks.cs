namespace CallGrains.Client;

/// <summary>
/// A webhook endpoint of your backend (PROTOCOL section 11, <see cref="CallGrainsAdminClient.GetWebhooksAsync"/>): where
/// call events are posted and which ones.
/// </summary>
/// <param name="Id">The endpoint's id (<c>wh_...</c>).</param>
/// <param name="Url">Where events are posted.</param>
/// <param name="Events">The event types it gets (<c>call.ended</c>, ...), or <c>*</c> for all.</param>
/// <param name="Secret">The signing secret (<c>whsec_...</c>): only in the answer of <see cref="CallGrainsAdminClient.CreateWebhookAsync"/>, null in every read.</param>
/// <param name="CreatedAt">When it was created.</param>
/// <param name="DisabledAt">When it stopped getting events (its receiver answered 410 Gone); null while it is on.</param>
/// <param name="DisabledReason">Why it was disabled; null while it is on.</param>
public sealed record WebhookEndpoint(
    string Id,
    string Url,
    IReadOnlyList<string> Events,
    string? Secret,
    DateTimeOffset CreatedAt,
    DateTimeOffset? DisabledAt,
    string? DisabledReason);

/// <summary>Where a webhook delivery stands.</summary>
public enum WebhookDeliveryStatus
{
    /// <summary><c>pending</c>: not delivered yet; tried again at <see cref="WebhookDelivery.NextAttemptAt"/>.</summary>
    Pending,

    /// <summary><c>delivered</c>: the receiver answered 2xx.</summary>
    Delivered,

    /// <summary><c>failed</c>: given up (retried for <c>Webhooks:MaxAttemptAge</c>, the backlog bound, or the endpoint disabled).</summary>
    Failed,
}

/// <summary>One event on its way to one endpoint, with its attempts (<see cref="CallGrainsAdminClient.GetWebhookDeliveriesAsync"/>).</summary>
/// <param name="WebhookId">The event's <c>webhook-id</c> header, the same on every attempt.</param>
/// <param name="Type">The event type (<c>call.ended</c>, ...).</param>
/// <param name="SessionId">The call it is about.</param>
/// <param name="CreatedAt">When the event happened.</param>
/// <param name="Status">Where it stands.</param>
/// <param name="NextAttemptAt">When a pending delivery is tried next; null otherwise.</param>
/// <param name="Attempts">Its attempts so far, oldest first.</param>
public sealed record WebhookDelivery(
    string WebhookId,
    string Type,
    string SessionId,
    DateTimeOffset CreatedAt,
    WebhookDeliveryStatus Status,
    DateTimeOffset? NextAttemptAt,
    IReadOnlyList<WebhookAttempt> Attempts);

/// <summary>One attempt to deliver an event.</summary>
/// <param name="At">When it was made.</param>
/// <param name="StatusCode">The receiver's HTTP status; null when there was no answer.</param>
/// <param name="Error">What went wrong (a timeout, a refused connection, ...); null for an answer.</param>
/// <param name="LatencyMs">How long it took, in milliseconds.</param>
public sealed record WebhookAttempt(DateTimeOffset At, int? StatusCode, string? Error, double LatencyMs);
