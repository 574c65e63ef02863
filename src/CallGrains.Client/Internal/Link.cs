using System.Buffers;
using System.Net;
using System.Net.WebSockets;
using System.Text.Json;

namespace CallGrains.Client.Internal;

/// <summary>One WebSocket to the gateway: sends one frame at a time, reads whole JSON messages.</summary>
internal sealed class Link : IDisposable
{
    // The server's own limit on what it accepts is 64 KiB; what it sends (a welcome listing many ringing group
    // calls) can be larger, but not without bound.
    private const int MaxMessageBytes = 8 * 1024 * 1024;

    private readonly ClientWebSocket _socket;
    private readonly SemaphoreSlim _sendLock = new(1, 1);
    private readonly ArrayBufferWriter<byte> _buffer = new(16 * 1024);

    private Link(ClientWebSocket socket) => _socket = socket;

    public DateTimeOffset OpenedAt { get; } = DateTimeOffset.UtcNow;

    public WebSocketCloseStatus? CloseStatus => _socket.CloseStatus;

    public string? CloseDescription => _socket.CloseStatusDescription;

    /// <summary>The reader of this link, once started; completes when the socket closes.</summary>
    public Task Reader { get; set; } = Task.CompletedTask;

    /// <summary>
    /// Opens the socket. A refusal before the upgrade (PROTOCOL section 1: 401 and the like) becomes a
    /// <see cref="CallGrainsException"/> with the status; <see cref="IsFatal"/> says whether trying again can help.
    /// </summary>
    public static async Task<Link> OpenAsync(CallGrainsClientOptions options, string? deviceId, CancellationToken cancellationToken)
    {
        var socket = new ClientWebSocket();
        socket.Options.SetRequestHeader("Authorization", $"Bearer {options.Token}");
        socket.Options.CollectHttpResponseDetails = true;
        socket.Options.KeepAliveInterval = options.KeepAliveInterval;
        socket.Options.KeepAliveTimeout = options.KeepAliveInterval * 2;
        var uri = SocketUri(options.Server, deviceId);
        try
        {
            if (options.HttpHandler is { } handler)
            {
                using var invoker = new HttpMessageInvoker(handler, disposeHandler: false);
                await socket.ConnectAsync(uri, invoker, cancellationToken).ConfigureAwait(false);
            }
            else
            {
                await socket.ConnectAsync(uri, cancellationToken).ConfigureAwait(false);
            }

            return new Link(socket);
        }
        catch (WebSocketException ex)
        {
            var status = socket.HttpStatusCode;
            socket.Dispose();
            throw Refused(status, ex);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>Whether a refused connection should stop the client (bad token, bad device id, refused origin) rather than be retried.</summary>
    public static bool IsFatal(CallGrainsException ex) => ex.HttpStatus is 400 or 401 or 403;

    public static Uri SocketUri(Uri server, string? deviceId)
    {
        var builder = new UriBuilder(server)
        {
            Scheme = server.Scheme == "https" ? "wss" : "ws",
            Path = server.AbsolutePath.TrimEnd('/') + "/v1/ws",
            Query = deviceId is null ? "" : $"deviceId={Uri.EscapeDataString(deviceId)}",
        };
        return builder.Uri;
    }

    public async Task SendAsync(ReadOnlyMemory<byte> frame, CancellationToken cancellationToken)
    {
        await _sendLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await _socket.SendAsync(frame, WebSocketMessageType.Text, endOfMessage: true, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _sendLock.Release();
        }
    }

    /// <summary>The next whole message, or null once the socket has closed (by either side, or broken).</summary>
    public async Task<JsonElement?> ReceiveAsync(CancellationToken cancellationToken)
    {
        _buffer.ResetWrittenCount();
        try
        {
            while (true)
            {
                var result = await _socket.ReceiveAsync(_buffer.GetMemory(16 * 1024), cancellationToken).ConfigureAwait(false);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    return null;
                }

                _buffer.Advance(result.Count);
                if (_buffer.WrittenCount > MaxMessageBytes)
                {
                    _socket.Abort();
                    return null;
                }

                if (result.EndOfMessage)
                {
                    using var doc = JsonDocument.Parse(_buffer.WrittenMemory);
                    return doc.RootElement.Clone();
                }
            }
        }
        catch (Exception ex) when (ex is WebSocketException or ObjectDisposedException or JsonException or IOException
            || (ex is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            // Broken (an aborted socket fails its pending receive with OperationCanceledException): closed, as far as
            // the reader is concerned.
            _socket.Abort();
            return null;
        }
    }

    /// <summary>Closes with a close handshake (bounded by <paramref name="timeout"/>), then drops the socket.</summary>
    public async Task CloseAsync(TimeSpan timeout)
    {
        try
        {
            if (_socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
            {
                using var limit = new CancellationTokenSource(timeout);
                await _socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "bye", limit.Token).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException or ObjectDisposedException)
        {
            // The peer is gone or would not take the close frame: the abort below is all that is left to do.
        }

        await Task.WhenAny(Reader, Task.Delay(timeout)).ConfigureAwait(false);
        _socket.Abort();
    }

    /// <summary>Drops the socket at once, as a device losing its network would.</summary>
    public void Abort() => _socket.Abort();

    public void Dispose()
    {
        _socket.Dispose();
        _sendLock.Dispose();
    }

    private static CallGrainsException Refused(HttpStatusCode status, WebSocketException ex) => (int)status switch
    {
        0 => new CallGrainsException(ErrorCodes.NotConnected, $"could not connect: {ex.Message}", innerException: ex),
        401 => new CallGrainsException(ErrorCodes.UserNotLoggedIn, "the server refused the auth token", httpStatus: 401, innerException: ex),
        403 => new CallGrainsException(ErrorCodes.PermissionDenied, "the server refused this connection (origin)", httpStatus: 403, innerException: ex),
        400 => new CallGrainsException(ErrorCodes.BadRequest, "the server refused the connection request (deviceId?)", httpStatus: 400, innerException: ex),
        429 => new CallGrainsException(ErrorCodes.TooManyRequests, "too many connections (devices or rate): retry later", httpStatus: 429, innerException: ex),
        var other => new CallGrainsException(ErrorCodes.NotConnected, $"the server answered HTTP {other} instead of a WebSocket", httpStatus: other, innerException: ex),
    };
}
