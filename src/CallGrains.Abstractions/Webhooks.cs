using System.Collections.Immutable;

namespace CallGrains.Abstractions;

/// <summary>The event types of PROTOCOL section 11, by their wire names.</summary>
public static class WebhookEvents
{
    public const string Initiated = "call.initiated";
    public const string Accepted = "call.accepted";
    public const string Rejected = "call.rejected";
    public const string Busy = "call.busy";
    public const string Cancelled = "call.cancelled";
    public const string Unanswered = "call.unanswered";
    public const string Ended = "call.ended";
    public const string ParticipantJoined = "call.participant_joined";
    public const string ParticipantLeft = "call.participant_left";

    /// <summary>In an endpoint's filter: every event.</summary>
    public const string All = "*";

    public static readonly ImmutableArray<string> Types = [Initiated, Accepted, Rejected, Busy, Cancelled, Unanswered, Ended, ParticipantJoined, ParticipantLeft];
}

/// <summary>
/// An endpoint of the app's backend (PROTOCOL section 11): where events are posted, which ones, and the secret they are
/// signed with (<c>whsec_</c> and the base64 of its bytes; shown once, when created).
/// </summary>
[GenerateSerializer, Immutable, Alias("cg.WebhookEndpoint")]
public sealed record WebhookEndpoint(
    [property: Id(0)] string Id,
    [property: Id(1)] string Url,
    [property: Id(2)] ImmutableArray<string> Events,
    [property: Id(3)] string Secret,
    [property: Id(4)] DateTimeOffset CreatedAt)
{
    /// <summary>When the endpoint stopped getting events (its receiver answered 410 Gone); null while it is on.</summary>
    [Id(5)] public DateTimeOffset? DisabledAt { get; init; }

    [Id(6)] public string? DisabledReason { get; init; }

    /// <summary>Whether an event of this type goes to this endpoint now.</summary>
    public bool Wants(string type) => DisabledAt is null && (Events.Contains(WebhookEvents.All) || Events.Contains(type));
}

/// <summary>The endpoint created, or why not (for people).</summary>
[GenerateSerializer, Immutable, Alias("cg.WebhookRegistration")]
public sealed record WebhookRegistration([property: Id(0)] WebhookEndpoint? Endpoint, [property: Id(1)] string? Problem);

/// <summary>
/// The node's copy of the endpoint list, told by the admin API that changed it so calls on this node see the change at
/// once (other nodes read it on their own within two refresh intervals). Absent where no grains run.
/// </summary>
public interface IWebhookEndpointCache
{
    /// <summary>Reads the endpoint list afresh.</summary>
    Task RefreshAsync();
}

/// <summary>Every webhook endpoint of the deployment (one grain, key <see cref="Key"/>; at most <c>Webhooks:MaxEndpoints</c>).</summary>
[Alias("cg.IWebhookRegistryGrain")]
public interface IWebhookRegistryGrain : IGrainWithStringKey
{
    public const string Key = "webhooks";

    /// <summary>Adds an endpoint with a fresh id and secret; refused past the cap or for a bad url or filter.</summary>
    [Alias("Create")]
    Task<WebhookRegistration> Create(string url, ImmutableArray<string> events);

    [Alias("List")]
    Task<ImmutableArray<WebhookEndpoint>> List();

    [Alias("Find")]
    Task<WebhookEndpoint?> Find(string id);

    /// <summary>Removes the endpoint and what waits for it; false if there was none.</summary>
    [Alias("Delete")]
    Task<bool> Delete(string id);

    /// <summary>Stops sending to the endpoint (its receiver said 410 Gone): it stays listed, disabled, with the reason.</summary>
    [Alias("Disable")]
    Task Disable(string id, string reason);
}

/// <summary>One attempt to deliver an event: when, the status code or the error, and how long it took.</summary>
[GenerateSerializer, Immutable, Alias("cg.WebhookAttempt")]
public sealed record WebhookAttempt(
    [property: Id(0)] DateTimeOffset At,
    [property: Id(1)] int? StatusCode,
    [property: Id(2)] string? Error,
    [property: Id(3)] double LatencyMs);

/// <summary>Where a delivery stands.</summary>
public enum WebhookDeliveryStatus
{
    Pending = 0,
    Delivered = 1,
    Failed = 2,
}

/// <summary>One event on its way to one endpoint, with its attempts so far (<c>GET /v1/webhooks/{id}/deliveries</c>).</summary>
[GenerateSerializer, Immutable, Alias("cg.WebhookDelivery")]
public sealed record WebhookDelivery(
    [property: Id(0)] string WebhookId,
    [property: Id(1)] string Type,
    [property: Id(2)] string SessionId,
    [property: Id(3)] DateTimeOffset CreatedAt,
    [property: Id(4)] WebhookDeliveryStatus Status,
    [property: Id(5)] ImmutableArray<WebhookAttempt> Attempts)
{
    /// <summary>When a pending delivery is tried next.</summary>
    [Id(6)] public DateTimeOffset? NextAttemptAt { get; init; }
}

/// <summary>An event for one endpoint: its <c>webhook-id</c>, and the body exactly as it is posted every time.</summary>
[GenerateSerializer, Immutable, Alias("cg.WebhookMessage")]
public sealed record WebhookMessage(
    [property: Id(0)] string WebhookId,
    [property: Id(1)] string Type,
    [property: Id(2)] string SessionId,
    [property: Id(3)] DateTimeOffset CreatedAt,
    [property: Id(4)] string Body);

/// <summary>Delivers one endpoint's events (one grain per endpoint id), in order per call, with the retry schedule of PROTOCOL section 11.</summary>
[Alias("cg.IWebhookDeliveryGrain")]
public interface IWebhookDeliveryGrain : IGrainWithStringKey
{
    /// <summary>There may be events to send: look now. Sent when events are queued and by every silo's sweep.</summary>
    [Orleans.Concurrency.OneWay, Alias("Wake")]
    Task Wake();

    /// <summary>Takes events for this endpoint (those it has seen are skipped), stored before it answers.</summary>
    [Alias("Enqueue")]
    Task Enqueue(ImmutableArray<WebhookMessage> messages);

    /// <summary>The endpoint was deleted: drop what waits for it and its history.</summary>
    [Alias("Forget")]
    Task Forget();

    /// <summary>Recent deliveries, newest first, of one status or all (at most <paramref name="limit"/>).</summary>
    [Alias("Deliveries")]
    Task<ImmutableArray<WebhookDelivery>> Deliveries(WebhookDeliveryStatus? status, int limit);
}
