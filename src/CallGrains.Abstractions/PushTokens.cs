using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;

namespace CallGrains.Abstractions;

/// <summary>The three kinds of push token a device registers (PROTOCOL section 10); wire names in the gateway's WireNames.</summary>
public enum PushPlatform
{
    /// <summary><c>apns-voip</c>: a PushKit token; rings through CallKit.</summary>
    ApnsVoip = 0,

    /// <summary><c>apns</c>: a regular APNs token; alerts only.</summary>
    Apns = 1,

    /// <summary><c>fcm</c>: a Firebase Cloud Messaging registration token.</summary>
    Fcm = 2,
}

/// <summary>One device's push token for one platform, as its user grain stores it.</summary>
/// <summary>What a push says (PROTOCOL section 10): a call rings, its ringing stopped, or it was missed.</summary>
public enum PushKind
{
    Ring = 0,
    Cancel = 1,
    Missed = 2,
}

[GenerateSerializer, Immutable, Alias("cg.PushToken")]
public sealed record PushToken(
    [property: Id(0)] string DeviceId,
    [property: Id(1)] PushPlatform Platform,
    [property: Id(2)] string Token,
    [property: Id(3)] DateTimeOffset RegisteredAt)
{
    /// <summary>The claim on the token's index entry this registration made (<see cref="IPushTokenGrain.Claim"/>).</summary>
    [Id(4)] public Guid Claim { get; init; }
}

/// <summary>Who holds a token: a user's device, through one claim (a later registration of the same token is a new claim).</summary>
[GenerateSerializer, Immutable, Alias("cg.PushTokenOwner")]
public sealed record PushTokenOwner([property: Id(0)] string Uid, [property: Id(1)] string DeviceId, [property: Id(2)] Guid Claim);

/// <summary>
/// What <see cref="IUserGrain.SetPushToken"/> did: the stored entry, or why not; and the other user the token was taken
/// from, whom the caller tells with <see cref="IUserGrain.PushTokenMoved"/> (a user grain never calls another user).
/// </summary>
[GenerateSerializer, Immutable, Alias("cg.PushTokenRegistration")]
public sealed record PushTokenRegistration(
    [property: Id(0)] PushToken? Token,
    [property: Id(1)] CallError? Error,
    [property: Id(2)] PushTokenOwner? TakenFrom);

/// <summary>The push token rules of PROTOCOL section 10: what a token may look like, its index key, its log hash.</summary>
public static partial class PushTokens
{
    public const int MinApnsLength = 64;
    public const int MaxApnsLength = 200;
    public const int MaxFcmLength = 4096;

    /// <summary>
    /// The token as stored, or why it is refused. APNs tokens are hex (Apple's are 64 digits today; up to 200 allowed for
    /// longer ones), stored in lowercase so that one token has one spelling; FCM tokens are 1-4096 of [A-Za-z0-9_:.-].
    /// </summary>
    public static (string? Token, string? Problem) Check(PushPlatform platform, string? token) => platform switch
    {
        PushPlatform.Fcm => token is not null && FcmPattern().IsMatch(token)
            ? (token, null)
            : (null, $"an fcm token must be 1-{MaxFcmLength} characters of [A-Za-z0-9_:.-]"),
        _ => token is not null && ApnsPattern().IsMatch(token)
            ? (token.ToLowerInvariant(), null)
            : (null, $"an {(platform == PushPlatform.Apns ? "apns" : "apns-voip")} token must be {MinApnsLength}-{MaxApnsLength} hexadecimal digits"),
    };

    /// <summary>The key of the token's <see cref="IPushTokenGrain"/>: the platform and the token's SHA-256, never the token itself.</summary>
    public static string IndexKey(PushPlatform platform, string token) => $"{platform}:{Sha256Hex(token)}";

    /// <summary>The first 8 hex digits of the token's SHA-256: enough to tell tokens apart in logs and admin reads, useless to send to.</summary>
    public static string ShortHash(string token) => Sha256Hex(token)[..8];

    private static string Sha256Hex(string token) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(token)));

    [GeneratedRegex(@"\A[0-9A-Fa-f]{64,200}\z", RegexOptions.CultureInvariant)]
    private static partial Regex ApnsPattern();

    [GeneratedRegex(@"\A[A-Za-z0-9_:.\-]{1,4096}\z", RegexOptions.CultureInvariant)]
    private static partial Regex FcmPattern();
}
