using System.Text.RegularExpressions;

namespace CallGrains.Abstractions;

/// <summary>The identifier rules of PROTOCOL sections 1 and 3.</summary>
public static partial class Identifiers
{
    public const int MaxNameLength = 100;

    /// <summary>A uid or guid: 1-100 chars of [A-Za-z0-9_-].</summary>
    public static bool IsValidUid(string? uid) => uid is not null && UidPattern().IsMatch(uid);

    /// <summary>A session id: opaque to clients, 1-128 chars; CallGrains accepts [A-Za-z0-9._:-] only.</summary>
    public static bool IsValidSessionId(string? sessionId) => sessionId is not null && SessionIdPattern().IsMatch(sessionId);

    /// <summary>A device id: 1-64 chars of [A-Za-z0-9._-].</summary>
    public static bool IsValidDeviceId(string? deviceId) => deviceId is not null && DeviceIdPattern().IsMatch(deviceId);

    public static bool IsValidName(string? name) =>
        !string.IsNullOrWhiteSpace(name) && name.Length <= MaxNameLength && !name.Any(char.IsControl);

    /// <summary>A fresh session id: 32 lowercase hex digits.</summary>
    public static string NewSessionId() => Guid.NewGuid().ToString("N");

    // \A and \z, not ^ and $: a .NET $ also matches before a final \n, which would let "alice\n" through.
    [GeneratedRegex(@"\A[A-Za-z0-9_-]{1,100}\z", RegexOptions.CultureInvariant)]
    private static partial Regex UidPattern();

    [GeneratedRegex(@"\A[A-Za-z0-9._:-]{1,128}\z", RegexOptions.CultureInvariant)]
    private static partial Regex SessionIdPattern();

    [GeneratedRegex(@"\A[A-Za-z0-9._-]{1,64}\z", RegexOptions.CultureInvariant)]
    private static partial Regex DeviceIdPattern();
}
