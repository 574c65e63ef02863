using Microsoft.Extensions.Logging;

namespace CallGrains.Grains;

internal static partial class Log
{
    [LoggerMessage(1, LogLevel.Information, "Call {SessionId}: {Caller} -> {Receiver} {Outcome}")]
    public static partial void CallInitiated(this ILogger logger, string sessionId, string caller, string receiver, string outcome);

    [LoggerMessage(2, LogLevel.Information, "Call {SessionId}: {Status} by {Uid}")]
    public static partial void CallSettled(this ILogger logger, string sessionId, string status, string uid);

    [LoggerMessage(3, LogLevel.Information, "Call {SessionId}: unanswered after {TimeoutSeconds} s")]
    public static partial void CallUnanswered(this ILogger logger, string sessionId, int timeoutSeconds);

    [LoggerMessage(4, LogLevel.Information, "Call {SessionId}: glare with {OtherSessionId}, merged into it")]
    public static partial void Glare(this ILogger logger, string sessionId, string otherSessionId);

    [LoggerMessage(5, LogLevel.Warning, "Call {SessionId}: user {Uid} slot is held by {HeldBy}, not by this call")]
    public static partial void SlotMismatch(this ILogger logger, string sessionId, string uid, string? heldBy);

    [LoggerMessage(6, LogLevel.Warning, "User {Uid}: could not publish {EventType} to gateway {GatewayId}")]
    public static partial void PublishFailed(this ILogger logger, Exception exception, string uid, string eventType, string gatewayId);

    [LoggerMessage(7, LogLevel.Information, "User {Uid}: stale slot of call {SessionId} released")]
    public static partial void StaleSlotReleased(this ILogger logger, string uid, string sessionId);

    [LoggerMessage(8, LogLevel.Information, "User {Uid}: no device for the grace period, leaving call {SessionId}")]
    public static partial void GraceExpired(this ILogger logger, string uid, string sessionId);

    [LoggerMessage(10, LogLevel.Warning, "Call {SessionId}: telling user {Uid} failed (attempt {Attempt}); retrying")]
    public static partial void UpdateRetry(this ILogger logger, Exception exception, string sessionId, string uid, int attempt);

    [LoggerMessage(11, LogLevel.Warning, "Call {SessionId}: user {Uid} was held by settled call {HeldBy}; slot freed")]
    public static partial void StaleSlotRepaired(this ILogger logger, string sessionId, string uid, string heldBy);

    [LoggerMessage(12, LogLevel.Warning, "Call {SessionId}: could not ask call {HeldBy} whether it settled; its slot counts as held")]
    public static partial void StaleSlotCheckFailed(this ILogger logger, Exception exception, string sessionId, string heldBy);

    [LoggerMessage(13, LogLevel.Information, "User {Uid}: gateway {GatewayId} died with {Count} of the user's devices")]
    public static partial void GatewayLost(this ILogger logger, string uid, string gatewayId, int count);

    [LoggerMessage(2333, LogLevel.Information, "Edge {EdgeId} joined the cluster")]
    public static partial void EdgeJoined(this ILogger logger, string edgeId);

    [LoggerMessage(2334, LogLevel.Warning, "Edge {EdgeId} renewed its lease after it had lapsed: it restores its devices")]
    public static partial void EdgeLeaseRenewedLate(this ILogger logger, string edgeId);

    [LoggerMessage(2335, LogLevel.Information, "Edge {EdgeId} left the cluster")]
    public static partial void EdgeLeft(this ILogger logger, string edgeId);

    [LoggerMessage(2332, LogLevel.Information, "User {Uid}: device {DeviceId} restored on edge {GatewayId}, which still holds its socket")]
    public static partial void DeviceRestored(this ILogger logger, string uid, string deviceId, string gatewayId);

    [LoggerMessage(14, LogLevel.Warning, "User {Uid}: could not check devices with gateway {GatewayId}")]
    public static partial void PresenceCheckFailed(this ILogger logger, Exception exception, string uid, string gatewayId);

    [LoggerMessage(15, LogLevel.Warning, "User {Uid}: dropped {Count} devices their gateways no longer hold")]
    public static partial void PhantomDevices(this ILogger logger, string uid, int count);

    [LoggerMessage(16, LogLevel.Warning, "Call {SessionId}: {Count} updates not yet delivered; left for redelivery")]
    public static partial void DeliveryDeferred(this ILogger logger, Exception exception, string sessionId, int count);

    [LoggerMessage(9, LogLevel.Information, "Call {SessionId}: {Uid} vanished, call {Outcome}")]
    public static partial void Abandoned(this ILogger logger, string sessionId, string uid, string outcome);

    [LoggerMessage(17, LogLevel.Warning, "Call {SessionId}: could not be moved to the parties' histories yet; trying again")]
    public static partial void ArchiveDeferred(this ILogger logger, Exception exception, string sessionId);

    [LoggerMessage(18, LogLevel.Information, "Call {SessionId}: ended after one participant was alone for {IdleSeconds} s")]
    public static partial void CallIdleEnded(this ILogger logger, string sessionId, int idleSeconds);

    [LoggerMessage(19, LogLevel.Warning, "Call {SessionId}: could not tell group {GroupId} that its call settled; the next call finds it settled")]
    public static partial void GroupReleaseFailed(this ILogger logger, Exception exception, string sessionId, string groupId);

    [LoggerMessage(2331, LogLevel.Error, "Call {SessionId}: {Count} webhook events dropped: no endpoint queue took them and the call keeps at most 512")]
    public static partial void WebhooksDropped(this ILogger logger, string sessionId, int count);
}
