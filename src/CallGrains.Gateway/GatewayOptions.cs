using System.ComponentModel.DataAnnotations;
using System.Net;

namespace CallGrains.Gateway;

/// <summary>The <c>Gateway</c> section: limits on what one connection may do.</summary>
public sealed class GatewayOptions : IValidatableObject
{
    public const string Section = "Gateway";

    [Range(1, 100_000)]
    public int MessagesPerSecond { get; set; } = 50;

    [Range(1, 100_000)]
    public int MessageBurst { get; set; } = 100;

    /// <summary>Largest message a client may send (PROTOCOL: 64 KiB, closes with 1009 beyond).</summary>
    [Range(1024, 1024 * 1024)]
    public int MaxMessageBytes { get; set; } = 64 * 1024;

    /// <summary>The server pings this often.</summary>
    [Range(1, 3600)]
    public int PingIntervalSeconds { get; set; } = 10;

    /// <summary>A peer silent this long (no pong, no message) is dropped.</summary>
    [Range(1, 3600)]
    public int IdleTimeoutSeconds { get; set; } = 30;

    /// <summary>Messages waiting to be sent to one socket; a client that falls this far behind is disconnected.</summary>
    [Range(16, 100_000)]
    public int SendQueueLimit { get; set; } = 1024;

    /// <summary>
    /// Bytes waiting to be sent to one socket; a client that falls this far behind is disconnected (1008). Together
    /// with <see cref="SendQueueLimit"/> it bounds what a client that stops reading can make the server hold.
    /// </summary>
    [Range(64 * 1024, 1024 * 1024 * 1024)]
    public int SendQueueBytesLimit { get; set; } = 4 * 1024 * 1024;

    /// <summary>Sockets one gateway holds at most; beyond, new ones get 503.</summary>
    [Range(1, 10_000_000)]
    public int MaxConnections { get; set; } = 100_000;

    /// <summary>
    /// Takes WebSocket upgrades at the connection, before Kestrel's HTTP layer, so an idle socket holds none of it
    /// (<c>Sockets/DirectUpgrade.cs</c>); off, every upgrade goes through ASP.NET Core. The answers are the same either way.
    /// </summary>
    public bool DirectUpgrade { get; set; } = true;

    /// <summary>
    /// HTTP requests (REST and WebSocket upgrades) per second, per user (Bearer token) and per remote address for
    /// requests with no valid credentials; <see cref="RestBurst"/> at once.
    /// </summary>
    [Range(1, 1_000_000)]
    public int RestRequestsPerSecond { get; set; } = 50;

    [Range(1, 1_000_000)]
    public int RestBurst { get; set; } = 100;

    /// <summary>
    /// Requests per second carrying the admin key, per remote address. A backend provisions users in bulk (the
    /// bench creates 20,000 with their tokens at full speed), so its burst is large.
    /// </summary>
    [Range(1, 1_000_000)]
    public int AdminRequestsPerSecond { get; set; } = 5_000;

    [Range(1, 10_000_000)]
    public int AdminBurst { get; set; } = 100_000;

    /// <summary>
    /// A second HTTP port for operators: when set, the host listens on it too (same addresses and scheme as its public
    /// URLs), and the admin API (X-Api-Key) and <c>/metrics</c> answer only there; the public port answers them 404.
    /// Unset: one listener serves everything. Never route this port through an ingress (docs/deployment.md).
    /// </summary>
    [Range(1, 65535)]
    public int? ManagementPort { get; set; }

    /// <summary>Browser origins (<c>https://app.example.com</c>) allowed to open a WebSocket; empty: any.</summary>
    public string[] AllowedOrigins { get; set; } = [];

    /// <summary>
    /// How often the gateway closes sockets whose auth token has expired (so at most this late, with 4001) and
    /// forgets idle rate-limit partitions.
    /// </summary>
    [Range(1, 3600)]
    public int SweepIntervalSeconds { get; set; } = 5;

    /// <summary>
    /// Addresses of the proxies (<c>10.0.0.5</c>) whose <c>X-Forwarded-For</c>/<c>X-Forwarded-Proto</c> are believed:
    /// the client address they name keys the per-address rate limit. Empty, with <see cref="KnownNetworks"/> empty:
    /// forwarded headers are ignored, so nobody can pick their own address.
    /// </summary>
    public string[] KnownProxies { get; set; } = [];

    /// <summary>Networks of such proxies, in CIDR (<c>10.0.0.0/8</c>).</summary>
    public string[] KnownNetworks { get; set; } = [];

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        foreach (var proxy in KnownProxies.Where(p => !IPAddress.TryParse(p, out _)))
        {
            yield return new ValidationResult($"Gateway:KnownProxies: '{proxy}' is not an IP address", [nameof(KnownProxies)]);
        }

        foreach (var network in KnownNetworks.Where(n => !IPNetwork.TryParse(n, out _)))
        {
            yield return new ValidationResult($"Gateway:KnownNetworks: '{network}' is not a network in CIDR notation (10.0.0.0/8)", [nameof(KnownNetworks)]);
        }
    }
}
