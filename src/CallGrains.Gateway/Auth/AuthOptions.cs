namespace CallGrains.Gateway.Auth;

/// <summary>The <c>Auth</c> section (PROTOCOL section 9).</summary>
public sealed class AuthOptions
{
    public const string Section = "Auth";

    /// <summary>Required outside Development; in Development generated and printed when missing.</summary>
    public string? AdminKey { get; set; }

    /// <summary>How long an auth token is valid.</summary>
    public TimeSpan TokenLifetime { get; set; } = TimeSpan.FromDays(1);

    /// <summary>Key that signs auth tokens; derived from <see cref="AdminKey"/> when not set.</summary>
    public string? TokenKey { get; set; }

    /// <summary>HS256 key of call (media) tokens, shared with the media server; derived from the admin key when not set.</summary>
    public string? CallTokenKey { get; set; }

    /// <summary>Lifetime of call tokens, at most one hour.</summary>
    public TimeSpan CallTokenLifetime { get; set; } = TimeSpan.FromHours(1);
}
