using CallGrains.Abstractions;

namespace CallGrains.Grains.Push;

/// <summary>
/// One push to one device, as the outbox hands it to a provider. Everything a provider puts on the wire is here; the
/// provider only shapes it for its own API (APNs headers and <c>aps</c>, FCM <c>message</c>).
/// </summary>
public sealed record PushMessage
{
    /// <summary>Stable per (sessionId, deviceId, kind): <c>apns-id</c> (a UUID) and FCM <c>data.pushId</c>.</summary>
    public required Guid PushId { get; init; }

    public required PushPlatform Platform { get; init; }

    /// <summary>The device's token. Never logged: <see cref="PushLog.TokenHash"/> at most.</summary>
    public required string DeviceToken { get; init; }

    public required PushKind Kind { get; init; }

    /// <summary>The event name of the payload: <c>incomingCallReceived</c>, <c>incomingCallCanceled</c>, <c>callMissed</c>.</summary>
    public required string Event { get; init; }

    public required string SessionId { get; init; }

    /// <summary>The call object exactly as the wire writes it (PROTOCOL section 3), as JSON text.</summary>
    public required string CallJson { get; init; }

    /// <summary>
    /// The call cut to fit (<see cref="IWireText.CompactCallJson"/>): what a provider sends instead of
    /// <see cref="CallJson"/> when the whole call would pass its payload limit (a big group, large metadata).
    /// </summary>
    public string? CompactCallJson { get; init; }

    /// <summary>For <see cref="PushKind.Cancel"/>: the wire name of the cancel reason (<c>cancelled</c>, <c>unanswered</c>, ...).</summary>
    public string? Reason { get; init; }

    /// <summary>For alerts (<c>apns</c> rings, missed calls): the title and body a phone shows.</summary>
    public string? AlertTitle { get; init; }

    public string? AlertBody { get; init; }

    /// <summary>
    /// When the push stops being useful: a ring push at the ring's deadline (FCM <c>ttl</c> is the time left to it);
    /// cancel and missed pushes a while later. No attempt is made, or retried, after it.
    /// </summary>
    public required DateTimeOffset ExpiresAt { get; init; }
}

/// <summary>What became of one attempt, as a provider reads its answer.</summary>
public enum PushOutcome
{
    /// <summary>Accepted by the provider.</summary>
    Sent,

    /// <summary>The provider says the token is no longer valid (APNs 400 BadDeviceToken / 410 Unregistered, FCM UNREGISTERED / INVALID_ARGUMENT naming the token): remove it.</summary>
    TokenGone,

    /// <summary>Worth trying again after <see cref="PushResult.RetryAfter"/> (429, 5xx, a timeout, a dropped connection).</summary>
    Retry,

    /// <summary>Refused for good (a bad request, a bad topic, credentials refused after a fresh one): not retried.</summary>
    Failed,
}

/// <summary>The provider's answer to one attempt: outcome, HTTP status, the provider's reason string, when to retry.</summary>
public sealed record PushResult(PushOutcome Outcome, int? StatusCode = null, string? Reason = null, TimeSpan? RetryAfter = null)
{
    public static readonly PushResult Sent = new(PushOutcome.Sent, 200);
}

/// <summary>
/// A push provider (APNs, FCM): makes one attempt per call and says what became of it; retries and back-off are the
/// sender's (<see cref="PushRetry"/>), so every provider retries the same way. An attempt never throws for what the
/// provider or the network answers; it maps it to a <see cref="PushResult"/>.
/// </summary>
public interface IPushProvider
{
    /// <summary>The platforms this provider sends to (APNs: apns-voip and apns; FCM: fcm).</summary>
    IReadOnlyCollection<PushPlatform> Platforms { get; }

    /// <summary>Short name for metrics and logs: <c>apns</c>, <c>fcm</c>.</summary>
    string Name { get; }

    Task<PushResult> SendOnceAsync(PushMessage message, CancellationToken cancellationToken);
}
