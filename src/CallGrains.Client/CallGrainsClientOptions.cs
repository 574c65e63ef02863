namespace CallGrains.Client;

/// <summary>How <see cref="CallGrainsClient"/> reaches the server and behaves when the connection drops.</summary>
public sealed class CallGrainsClientOptions
{
    /// <summary>The server's base address, e.g. <c>http://localhost:5080</c> (<c>https</c> connects with <c>wss</c>).</summary>
    public Uri Server { get; set; } = new("http://localhost:5080");

    /// <summary>The user's auth token (from your backend, which mints it with the admin API).</summary>
    public string Token { get; set; } = "";

    /// <summary>
    /// Names this device (1-64 characters of <c>[A-Za-z0-9._-]</c>), so a reconnect is the same device again and a
    /// newer connection with the same id replaces an older one. Null: a fresh id is chosen once per client and kept
    /// across its reconnects.
    /// </summary>
    public string? DeviceId { get; set; }

    /// <summary>How long a request waits for its response before it fails with <see cref="ErrorCodes.Timeout"/>.</summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>How long one connection attempt (up to the <c>welcome</c>) may take.</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>Reconnect after the connection drops (with back-off); false: report Disconnected and stop.</summary>
    public bool AutoReconnect { get; set; } = true;

    /// <summary>The first reconnect delay's upper bound; each failed attempt doubles it, up to <see cref="ReconnectMaxDelay"/>.</summary>
    public TimeSpan ReconnectBaseDelay { get; set; } = TimeSpan.FromSeconds(0.5);

    /// <summary>The cap on the reconnect delay.</summary>
    public TimeSpan ReconnectMaxDelay { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// The least time between two connection attempts, whatever the jitter draws: bounds the attempt rate of many
    /// clients losing a server at once.
    /// </summary>
    public TimeSpan ReconnectMinInterval { get; set; } = TimeSpan.FromSeconds(0.25);

    /// <summary>The client's own keep-alive ping interval (the server pings too); a peer silent for twice as long is dropped.</summary>
    public TimeSpan KeepAliveInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// The HTTP handler for REST requests and the WebSocket (proxies, certificates, tests); null for a default one.
    /// The client does not dispose a handler it was given.
    /// </summary>
    public HttpMessageHandler? HttpHandler { get; set; }

    internal void Validate()
    {
        ArgumentNullException.ThrowIfNull(Server);
        if (!Server.IsAbsoluteUri || Server.Scheme is not ("http" or "https"))
        {
            throw new ArgumentException("Server must be an absolute http or https address", nameof(Server));
        }

        if (string.IsNullOrWhiteSpace(Token))
        {
            throw new ArgumentException("Token is required", nameof(Token));
        }

        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(RequestTimeout, TimeSpan.Zero, nameof(RequestTimeout));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(ConnectTimeout, TimeSpan.Zero, nameof(ConnectTimeout));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(ReconnectBaseDelay, TimeSpan.Zero, nameof(ReconnectBaseDelay));
        ArgumentOutOfRangeException.ThrowIfLessThan(ReconnectMaxDelay, ReconnectBaseDelay, nameof(ReconnectMaxDelay));
        ArgumentOutOfRangeException.ThrowIfLessThan(ReconnectMinInterval, TimeSpan.Zero, nameof(ReconnectMinInterval));
    }
}
