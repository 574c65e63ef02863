using System.Net.WebSockets;

namespace CallGrains.Client.Protocol;

/// <summary>How a <see cref="ProtocolConnection"/> opens its socket and what it keeps of the messages it reads.</summary>
public sealed class ProtocolConnectionOptions
{
    /// <summary>The server's base address, e.g. <c>http://localhost:5080</c> (<c>https</c> connects with <c>wss</c>).</summary>
    public Uri Server { get; set; } = new("http://localhost:5080");

    /// <summary>The user's auth token; null sends none (the server then refuses the upgrade).</summary>
    public string? Token { get; set; }

    /// <summary>Sends the token in the query string (<c>?token=</c>), as a browser must, instead of an <c>Authorization</c> header.</summary>
    public bool TokenInQuery { get; set; }

    /// <summary>The device id to connect as (<c>?deviceId=</c>); null lets the server choose one.</summary>
    public string? DeviceId { get; set; }

    /// <summary>An <c>Origin</c> header to send, as a browser does; null sends none.</summary>
    public string? Origin { get; set; }

    /// <summary>The TCP receive buffer size, in bytes; null for the system's. A small one makes a reader that stops soon felt by the server.</summary>
    public int? ReceiveBufferBytes { get; set; }

    /// <summary>The client's own keep-alive ping interval.</summary>
    public TimeSpan KeepAliveInterval { get; set; } = WebSocket.DefaultKeepAliveInterval;

    /// <summary>How long the peer may leave a keep-alive ping unanswered before the socket is dropped; infinite by default.</summary>
    public TimeSpan KeepAliveTimeout { get; set; } = Timeout.InfiniteTimeSpan;

    /// <summary>The HTTP handler to open the socket with (proxies, certificates, tests); null for a default one. Not disposed by the connection.</summary>
    public HttpMessageHandler? HttpHandler { get; set; }

    /// <summary>A message larger than this is taken as a broken connection: the socket is dropped.</summary>
    public int MaxMessageBytes { get; set; } = 8 * 1024 * 1024;

    /// <summary>
    /// Keeps each message's whole JSON in <see cref="ProtocolMessage.Json"/>. False reads only the routing fields
    /// (event, id, ok, seq, session, error code) in place: for load tools that read many messages on the cores they measure.
    /// </summary>
    public bool KeepJson { get; set; } = true;

    /// <summary>Keeps every message read, in arrival order, in <see cref="ProtocolConnection.Received"/> (for tests and tools; grows without bound).</summary>
    public bool KeepLog { get; set; }
}
