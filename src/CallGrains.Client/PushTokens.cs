namespace CallGrains.Client;

/// <summary>The kind of push token a device registers (PROTOCOL section 10).</summary>
public enum PushPlatform
{
    /// <summary><c>apns-voip</c>: a PushKit (VoIP) token; the server rings the phone through it, the app reports the call to CallKit.</summary>
    ApnsVoip,

    /// <summary><c>apns</c>: a regular APNs token; alerts only (a missed call, or a ring shown as an alert).</summary>
    Apns,

    /// <summary><c>fcm</c>: a Firebase Cloud Messaging registration token; rings with a high-priority data message.</summary>
    Fcm,
}

/// <summary>One registered push token of the user (<see cref="CallGrainsClient.GetPushTokensAsync"/>).</summary>
/// <param name="DeviceId">The device it belongs to.</param>
/// <param name="Platform">Its platform.</param>
/// <param name="Token">The token (APNs tokens in lowercase hex); null in an operator's read, which shows only <paramref name="TokenHash"/>.</param>
/// <param name="TokenHash">In an operator's read (<see cref="CallGrainsAdminClient.GetPushTokensAsync"/>): the first 8 hex digits of the token's SHA-256; otherwise null.</param>
/// <param name="RegisteredAt">When it was last registered.</param>
public sealed record PushTokenEntry(string DeviceId, PushPlatform Platform, string? Token, string? TokenHash, DateTimeOffset RegisteredAt);
