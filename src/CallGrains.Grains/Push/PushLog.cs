using CallGrains.Abstractions;

namespace CallGrains.Grains.Push;

/// <summary>What of a push may appear in a log line or a metric: never a device token or a key.</summary>
public static class PushLog
{
    /// <summary>The first 8 hex digits of the token's SHA-256 (<see cref="PushTokens.ShortHash"/>): enough to tell tokens apart in logs, useless to send to.</summary>
    public static string TokenHash(string deviceToken) => PushTokens.ShortHash(deviceToken);
}
