using CallGrains.Abstractions;
using Microsoft.Extensions.Logging;

namespace CallGrains.Grains.Push.Fcm;

/// <summary>FCM's log lines: a device token only as <see cref="PushLog.TokenHash"/>, never an access token or a key.</summary>
internal static partial class FcmLog
{
    [LoggerMessage(2101, LogLevel.Debug, "FCM {Kind} push {PushId} of call {SessionId} to token {TokenHash}: sent")]
    public static partial void Sent(this ILogger logger, PushKind kind, Guid pushId, string sessionId, string tokenHash);

    [LoggerMessage(2102, LogLevel.Information, "FCM {Kind} push {PushId} of call {SessionId}: token {TokenHash} is gone ({Status} {Reason})")]
    public static partial void TokenGone(this ILogger logger, PushKind kind, Guid pushId, string sessionId, string tokenHash, int? status, string? reason);

    [LoggerMessage(2103, LogLevel.Warning, "FCM {Kind} push {PushId} of call {SessionId} to token {TokenHash}: {Outcome} ({Status} {Reason})")]
    public static partial void NotSent(this ILogger logger, PushKind kind, Guid pushId, string sessionId, string tokenHash, PushOutcome outcome, int? status, string? reason);

    [LoggerMessage(2104, LogLevel.Information, "FCM refused the access token (401) for push {PushId}; sending once more with a new one")]
    public static partial void AccessTokenRefused(this ILogger logger, Guid pushId);

    [LoggerMessage(2105, LogLevel.Warning, "FCM push {PushId} of call {SessionId}: no access token from the token endpoint ({Reason})")]
    public static partial void NoAccessToken(this ILogger logger, Guid pushId, string sessionId, string reason);
}
