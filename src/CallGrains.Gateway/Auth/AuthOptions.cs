namespace CallGrains.Gateway.Auth;

/// <summary>The <c>Auth</c> section (PROTOCOL section 9).</summary>
public sealed class AuthOptions
{
    public const string Section = "Auth";

    /// <summary>Required outside Development; in Development generated and printed when missing.</summary>
    public string? AdminKey { get; set; }

    /// <summary>How long an auth token is valid.</summary>
    public TimeSpan TokenLifetime { get; set; } = TimeSpan.FromDays(1);

    /// <summary>
    /// Key that signs auth tokens (key id <c>default</c>); derived from <see cref="AdminKey"/> when neither it nor
    /// <see cref="TokenKeys"/> is set. With <see cref="TokenKeys"/> it only verifies: the way to rotate away from it.
    /// </summary>
    public string? TokenKey { get; set; }

    /// <summary>Auth token keys with ids, newest first: the first signs, all verify (rotation).</summary>
    public SigningKey[] TokenKeys { get; set; } = [];

    /// <summary>HS256 key of call (media) tokens, shared with the media server; derived from the admin key when not set.</summary>
    public string? CallTokenKey { get; set; }

    /// <summary>Call token keys with ids, newest first, as <see cref="TokenKeys"/>: the media server picks the key by <c>kid</c>.</summary>
    public SigningKey[] CallTokenKeys { get; set; } = [];

    /// <summary>The <c>aud</c> of call tokens: a media server checks it, so no other token of this service passes there.</summary>
    public string CallTokenAudience { get; set; } = "callgrains-media";

    /// <summary>Lifetime of call tokens, at most one hour.</summary>
    public TimeSpan CallTokenLifetime { get; set; } = TimeSpan.FromHours(1);

    /// <summary>Every configured key of auth tokens, with the setting that names it (for validation messages).</summary>
    internal IEnumerable<(string Setting, string? Key)> AuthKeySettings() =>
        KeySettings("Auth:TokenKey", TokenKey, "Auth:TokenKeys", TokenKeys);

    /// <summary>Every configured key of call tokens, with the setting that names it.</summary>
    internal IEnumerable<(string Setting, string? Key)> CallKeySettings() =>
        KeySettings("Auth:CallTokenKey", CallTokenKey, "Auth:CallTokenKeys", CallTokenKeys);

    private static IEnumerable<(string, string?)> KeySettings(string single, string? key, string list, SigningKey[] keys) =>
        keys.Select((k, i) => ($"{list}:{i}:Key", (string?)k.Key)).Append((single, key));
}
