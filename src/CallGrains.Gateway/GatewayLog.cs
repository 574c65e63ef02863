using Microsoft.Extensions.Logging;

namespace CallGrains.Gateway;

/// <summary>The gateway's log messages: event ids 100-199 (the grains' are below 100, every id used once).</summary>
internal static partial class GatewayLog
{
    [LoggerMessage(101, LogLevel.Error, "Op {Op} of user {Uid} failed")]
    public static partial void OperationFailed(this ILogger logger, Exception exception, string op, string uid);

    [LoggerMessage(102, LogLevel.Information, "User {Uid} device {DeviceId} connected")]
    public static partial void Connected(this ILogger logger, string uid, string deviceId);

    [LoggerMessage(103, LogLevel.Information, "User {Uid} device {DeviceId} disconnected")]
    public static partial void Disconnected(this ILogger logger, string uid, string deviceId);

    [LoggerMessage(104, LogLevel.Warning, "User {Uid} device {DeviceId}: could not unregister the device")]
    public static partial void UnregisterFailed(this ILogger logger, Exception exception, string uid, string deviceId);

    [LoggerMessage(105, LogLevel.Warning, "Auth:AdminKey is not set; generated one for this Development run: {AdminKey}")]
    public static partial void GeneratedAdminKey(this ILogger logger, string adminKey);

    [LoggerMessage(106, LogLevel.Information, "Gateway stopping: closing {Count} sockets with 1012")]
    public static partial void Draining(this ILogger logger, int count);

    [LoggerMessage(108, LogLevel.Warning, "User {Uid} device {DeviceId}: could not register the connection")]
    public static partial void ConnectFailed(this ILogger logger, Exception exception, string uid, string deviceId);

    [LoggerMessage(107, LogLevel.Information, "Gateway {GatewayId} subscribed to its event stream")]
    public static partial void Subscribed(this ILogger logger, string gatewayId);

    [LoggerMessage(109, LogLevel.Information, "User {Uid} device {DeviceId}: auth token expired, closing with 4001")]
    public static partial void TokenExpired(this ILogger logger, string uid, string deviceId);

    [LoggerMessage(111, LogLevel.Information, "Edge {EdgeId} holds its lease: the cluster can reach its sockets")]
    public static partial void EdgeLeased(this ILogger logger, string edgeId);

    [LoggerMessage(112, LogLevel.Warning, "Edge {EdgeId}: renewing the lease failed")]
    public static partial void EdgeRenewFailed(this ILogger logger, Exception exception, string edgeId);

    [LoggerMessage(113, LogLevel.Warning, "Edge {EdgeId}: the lease had lapsed; restored {Restored} of {Count} devices, closed the others with 1012")]
    public static partial void EdgeRestored(this ILogger logger, string edgeId, int restored, int count);

    [LoggerMessage(110, LogLevel.Warning, "User {Uid} device {DeviceId}: the WebSocket upgrade failed after the device was registered; unregistering it")]
    public static partial void UpgradeFailed(this ILogger logger, Exception exception, string uid, string deviceId);
}
