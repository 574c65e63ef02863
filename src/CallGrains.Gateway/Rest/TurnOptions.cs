using System.ComponentModel.DataAnnotations;
using System.Net;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Options;

namespace CallGrains.Gateway.Rest;

/// <summary>
/// The <c>Turn</c> section (PROTOCOL section 12): the TURN servers <c>GET /v1/turn</c> hands out and the secret
/// shared with them (coturn's <c>static-auth-secret</c>). Without <see cref="Urls"/> the endpoint answers no servers.
/// </summary>
public sealed class TurnOptions
{
    public const string Section = "Turn";

    /// <summary>Comma-separated <c>turn:</c>/<c>turns:</c> URIs (<c>turn:turn.example.com:3478?transport=udp</c>).</summary>
    public string? Urls { get; set; }

    /// <summary>The TURN REST secret the server checks credentials with; required with <see cref="Urls"/>. Never logged.</summary>
    public string? Secret { get; set; }

    /// <summary>How long a credential is valid (and the answer's <c>ttl</c>).</summary>
    [Range(60, 604_800, ErrorMessage = "Turn:TtlSeconds must be between 60 and 604800 (one minute to one week)")]
    public int TtlSeconds { get; set; } = 86_400;

    /// <summary>The entries of <see cref="Urls"/>, trimmed, empty ones left out.</summary>
    public string[] UrlList() => Urls?.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries) ?? [];
}

/// <summary>
/// Checks <see cref="TurnOptions"/> at start: each URL a TURN URI (RFC 7065), a secret of at least
/// <see cref="MinSecretLength"/> characters when there are URLs. Failures name the setting, never the secret.
/// </summary>
public sealed partial class TurnOptionsValidator : IValidateOptions<TurnOptions>
{
    public const int MinSecretLength = 16;

    /// <summary>More URLs than any deployment lists: a browser tries every one of them for each call.</summary>
    public const int MaxUrls = 16;

    public ValidateOptionsResult Validate(string? name, TurnOptions options)
    {
        var urls = options.UrlList();
        if (urls.Length == 0)
        {
            return ValidateOptionsResult.Success;
        }

        List<string> failures = [];
        if (urls.Length > MaxUrls)
        {
            failures.Add($"Turn:Urls lists {urls.Length} URLs; at most {MaxUrls}");
        }

        foreach (var url in urls.Where(u => !IsTurnUri(u)))
        {
            failures.Add($"Turn:Urls entry '{url}' is not a TURN URI: turn:<host>[:<port>][?transport=udp|tcp] or turns:...");
        }

        if (string.IsNullOrWhiteSpace(options.Secret))
        {
            failures.Add("Turn:Secret is required when Turn:Urls is set: the TURN server's static-auth-secret (e.g. openssl rand -hex 32)");
        }
        else if (options.Secret.Length < MinSecretLength)
        {
            failures.Add($"Turn:Secret must be at least {MinSecretLength} characters (e.g. openssl rand -hex 32)");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    /// <summary>RFC 7065: <c>turn:</c> or <c>turns:</c>, a host name, IPv4 or bracketed IPv6 address, an optional port and transport.</summary>
    public static bool IsTurnUri(string url)
    {
        if (TurnUri().Match(url) is not { Success: true } match)
        {
            return false;
        }

        var host = match.Groups["host"].Value;
        var hostOk = host.StartsWith('[')
            ? IPAddress.TryParse(host[1..^1], out var v6) && v6.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6
            : Uri.CheckHostName(host) is UriHostNameType.Dns or UriHostNameType.IPv4;
        var port = match.Groups["port"];
        return hostOk && (!port.Success || int.Parse(port.Value, System.Globalization.CultureInfo.InvariantCulture) is >= 1 and <= 65535);
    }

    [GeneratedRegex(@"^turns?:(?<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]{1,253})(:(?<port>[0-9]{1,5}))?(\?transport=(udp|tcp))?$")]
    private static partial Regex TurnUri();
}
