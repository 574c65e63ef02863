using System.Text.RegularExpressions;

namespace CallGrains.Abstractions;

/// <summary>The identifier rules of PROTOCOL sections 1 and 3.</summary>
public static partial class Identifiers
{
    public const int MaxNameLength = 100;

    /// <summary>What <see cref="IsValidName"/> asks, for the error that refuses a name.</summary>
    public const string NameRule = "name must be 1-100 characters, without control, bidirectional-override or zero-width characters";

    /// <summary>A uid or guid: 1-100 chars of [A-Za-z0-9_-].</summary>
    public static bool IsValidUid(string? uid) => uid is not null && UidPattern().IsMatch(uid);

    /// <summary>A session id: opaque to clients, 1-128 chars; CallGrains accepts [A-Za-z0-9._:-] only.</summary>
    public static bool IsValidSessionId(string? sessionId) => sessionId is not null && SessionIdPattern().IsMatch(sessionId);

    /// <summary>A device id: 1-64 chars of [A-Za-z0-9._-].</summary>
    public static bool IsValidDeviceId(string? deviceId) => deviceId is not null && DeviceIdPattern().IsMatch(deviceId);

    /// <summary>
    /// A display name: 1-100 characters, not all white space, with no control characters, no bidirectional overrides,
    /// embeddings, isolates or marks (U+202A-202E, U+2066-2069, U+200E, U+200F, U+061C) and no zero-width or invisible
    /// characters (U+200B-200D, U+2060-2064, U+FEFF): they let a name show as another ("evil\u202Egnp.exe" reads
    /// "evilexe.png") on the screen of whoever it rings.
    /// </summary>
    public static bool IsValidName(string? name) =>
        !string.IsNullOrWhiteSpace(name) && name.Length <= MaxNameLength && !name.Any(c => char.IsControl(c) || IsHidden(c));

    private static bool IsHidden(char c) => c is (>= '\u200B' and <= '\u200F') or (>= '\u202A' and <= '\u202E')
        or (>= '\u2060' and <= '\u2064') or (>= '\u2066' and <= '\u2069') or '\u061C' or '\uFEFF';

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
