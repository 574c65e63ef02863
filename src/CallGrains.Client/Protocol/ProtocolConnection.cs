using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json.Nodes;

namespace CallGrains.Client.Protocol;

/// <summary>
/// One WebSocket to a CallGrains gateway, speaking the wire protocol at its own level: requests with ids matched to
/// their responses, events handed over in arrival order, waits for a given event. <see cref="CallGrainsClient"/> is
/// built on it; tools and tests use it to say exactly what goes on the wire. Thread-safe.
/// </summary>
public sealed partial class ProtocolConnection : IAsyncDisposable, IDisposable
{
    private static readonly TimeSpan DefaultCloseTimeout = TimeSpan.FromSeconds(2);

    private readonly ClientWebSocket _socket;
    private readonly ProtocolConnectionOptions _options;
    private readonly HttpMessageHandler? _ownHandler;
    private readonly SemaphoreSlim _sendLock = new(1, 1);
    private readonly ConcurrentDictionary<string, PendingRequest> _pending = new();
    private long _nextId;

    private ProtocolConnection(ClientWebSocket socket, ProtocolConnectionOptions options, HttpMessageHandler? ownHandler)
    {
        _socket = socket;
        _options = options;
        _ownHandler = ownHandler;
    }

    /// <summary>When the socket opened.</summary>
    public DateTimeOffset OpenedAt { get; } = DateTimeOffset.UtcNow;

    /// <summary>The close status the socket ended with, once it has closed; null while open or if it broke without one.</summary>
    public WebSocketCloseStatus? CloseStatus => _socket.CloseStatus;

    /// <summary>The close description that came with <see cref="CloseStatus"/>.</summary>
    public string? CloseDescription => _socket.CloseStatusDescription;

    /// <summary>
    /// Opens the socket; reading starts with <see cref="Start"/> (or one message at a time with <see cref="ReceiveAsync"/>).
    /// A refusal before the upgrade (PROTOCOL section 1: 401 and the like) throws with the HTTP status.
    /// </summary>
    /// <param name="options">Where and as whom to connect.</param>
    /// <param name="cancellationToken">Cancels the attempt.</param>
    /// <returns>The open connection.</returns>
    /// <exception cref="CallGrainsException">The server refused the upgrade (<see cref="CallGrainsException.HttpStatus"/> says how) or could not be reached.</exception>
    public static async Task<ProtocolConnection> OpenAsync(ProtocolConnectionOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        var socket = new ClientWebSocket();
        socket.Options.CollectHttpResponseDetails = true;
        socket.Options.KeepAliveInterval = options.KeepAliveInterval;
        socket.Options.KeepAliveTimeout = options.KeepAliveTimeout;
        if (options.Token is not null && !options.TokenInQuery)
        {
            socket.Options.SetRequestHeader("Authorization", $"Bearer {options.Token}");
        }

        if (options.Origin is not null)
        {
            socket.Options.SetRequestHeader("Origin", options.Origin);
        }

        var ownHandler = options.HttpHandler is null && options.ReceiveBufferBytes is { } bytes ? SmallBufferHandler(bytes) : null;
        try
        {
            if ((options.HttpHandler ?? ownHandler) is { } handler)
            {
                using var invoker = new HttpMessageInvoker(handler, disposeHandler: false);
                await socket.ConnectAsync(SocketUri(options), invoker, cancellationToken).ConfigureAwait(false);
            }
            else
            {
                await socket.ConnectAsync(SocketUri(options), cancellationToken).ConfigureAwait(false);
            }

            return new ProtocolConnection(socket, options, ownHandler);
        }
        catch (WebSocketException ex)
        {
            var status = socket.HttpStatusCode;
            socket.Dispose();
            ownHandler?.Dispose();
            throw Refused(status, ex);
        }
        catch
        {
            socket.Dispose();
            ownHandler?.Dispose();
            throw;
        }
    }

    /// <summary>The socket's address for <paramref name="options"/>: <c>/v1/ws</c> under the server's, with the device id and token the query carries.</summary>
    /// <param name="options">The connection's options.</param>
    /// <returns>The <c>ws</c> or <c>wss</c> address.</returns>
    public static Uri SocketUri(ProtocolConnectionOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var query = new List<string>();
        if (options.TokenInQuery && options.Token is not null)
        {
            query.Add($"token={Uri.EscapeDataString(options.Token)}");
        }

        if (options.DeviceId is not null)
        {
            query.Add($"deviceId={Uri.EscapeDataString(options.DeviceId)}");
        }

        var server = options.Server;
        return new UriBuilder(server)
        {
            Scheme = server.Scheme == "https" ? "wss" : "ws",
            Path = server.AbsolutePath.TrimEnd('/') + "/v1/ws",
            Query = string.Join('&', query),
        }.Uri;
    }

    /// <summary>
    /// Sends a request (<c>op</c> and <paramref name="args"/>) and returns once it is on the wire, with its response to
    /// come. An <c>id</c> already in <paramref name="args"/> is kept (it must be unique among requests in flight);
    /// otherwise the connection numbers the request.
    /// </summary>
    /// <param name="op">The operation.</param>
    /// <param name="args">The request's other fields; null for none. The connection adds <c>id</c> and <c>op</c> to it.</param>
    /// <param name="cancellationToken">Cancels the send.</param>
    /// <returns>The request, whose <see cref="PendingRequest.Response"/> completes with the response (null if the connection closes first).</returns>
    /// <exception cref="CallGrainsException"><see cref="ErrorCodes.NotConnected"/>: the socket could not take it.</exception>
    public async Task<PendingRequest> SendRequestAsync(string op, JsonObject? args = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(op);
        args ??= [];
        if (args["id"]?.GetValue<string>() is not { } id)
        {
            id = Interlocked.Increment(ref _nextId).ToString(CultureInfo.InvariantCulture);
            args["id"] = id;
        }

        args["op"] = op;
        var request = new PendingRequest(id, op);
        Register(request);
        try
        {
            await SendAsync(Encoding.UTF8.GetBytes(args.ToJsonString()), WebSocketMessageType.Text, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is WebSocketException or ObjectDisposedException or InvalidOperationException or IOException)
        {
            _pending.TryRemove(id, out _);
            throw new CallGrainsException(ErrorCodes.NotConnected, $"the connection dropped: {op} was not sent", innerException: ex);
        }
        catch (OperationCanceledException)
        {
            _pending.TryRemove(id, out _);
            throw;
        }

        return request;
    }

    /// <summary>Sends a request and waits for its response (which may be an error response: see <see cref="ProtocolMessage.Ok"/>).</summary>
    /// <param name="op">The operation.</param>
    /// <param name="args">The request's other fields; null for none.</param>
    /// <param name="cancellationToken">Stops waiting.</param>
    /// <returns>The response.</returns>
    /// <exception cref="CallGrainsException"><see cref="ErrorCodes.NotConnected"/>: not sent, or the connection closed before the response.</exception>
    public async Task<ProtocolMessage> RequestAsync(string op, JsonObject? args = null, CancellationToken cancellationToken = default)
    {
        var request = await SendRequestAsync(op, args, cancellationToken).ConfigureAwait(false);
        return await request.Response.WaitAsync(cancellationToken).ConfigureAwait(false)
            ?? throw new CallGrainsException(ErrorCodes.NotConnected, $"the connection closed before the response to {op}");
    }

    /// <summary>Sends one text frame as it is (a request written by hand, or a malformed one on purpose).</summary>
    /// <param name="text">The frame's text.</param>
    /// <param name="cancellationToken">Cancels the send.</param>
    /// <returns>A task that completes when the frame is sent.</returns>
    public Task SendTextAsync(string text, CancellationToken cancellationToken = default) =>
        SendAsync(Encoding.UTF8.GetBytes(text), WebSocketMessageType.Text, cancellationToken);

    /// <summary>Sends one whole frame as it is, one frame at a time per connection.</summary>
    /// <param name="data">The frame's payload.</param>
    /// <param name="type">Text or binary.</param>
    /// <param name="cancellationToken">Cancels the send.</param>
    /// <returns>A task that completes when the frame is sent.</returns>
    public async Task SendAsync(ReadOnlyMemory<byte> data, WebSocketMessageType type = WebSocketMessageType.Text, CancellationToken cancellationToken = default)
    {
        await _sendLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await _socket.SendAsync(data, type, endOfMessage: true, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _sendLock.Release();
        }
    }

    /// <summary>Closes with a close handshake, waiting at most <paramref name="timeout"/> (2 s by default) for the server's, then drops the socket.</summary>
    /// <param name="timeout">How long the handshake may take.</param>
    /// <returns>A task that completes when the socket is closed.</returns>
    public async Task CloseAsync(TimeSpan? timeout = null)
    {
        var limit = timeout ?? DefaultCloseTimeout;
        try
        {
            if (_socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
            {
                using var cancel = new CancellationTokenSource(limit);
                await _socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "bye", cancel.Token).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException or ObjectDisposedException)
        {
            // The peer is gone or would not take the close frame: the abort below is all that is left to do.
        }

        await Task.WhenAny(Completion, Task.Delay(limit)).ConfigureAwait(false);
        Abort();
    }

    /// <summary>Drops the socket at once, without a close handshake, as a device losing its network would.</summary>
    public void Abort()
    {
        _socket.Abort();

        // A paused reader would otherwise never see the socket go, and Completion would never complete.
        ResumeReading();
    }

    /// <summary>Closes with a close handshake (see <see cref="CloseAsync"/>) and lets go of the socket.</summary>
    /// <returns>A task that completes when the connection is closed.</returns>
    public async ValueTask DisposeAsync()
    {
        await CloseAsync().ConfigureAwait(false);
        await Completion.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        Dispose();
    }

    /// <summary>Drops the socket (no handshake) and lets go of it.</summary>
    public void Dispose()
    {
        Abort();
        _socket.Dispose();
        _ownHandler?.Dispose();
    }

    private void Register(PendingRequest request)
    {
        if (!_pending.TryAdd(request.Id, request))
        {
            throw new InvalidOperationException($"a request with id {request.Id} is already waiting for its response");
        }

        // A request registered after the reader's last look at the table would wait for ever.
        if (Volatile.Read(ref _closed))
        {
            _pending.TryRemove(request.Id, out _);
            request.Complete(null);
        }
    }

    /// <summary>A handler whose sockets have a small receive buffer, so a reader that stops is soon felt by the server.</summary>
    private static SocketsHttpHandler SmallBufferHandler(int receiveBufferBytes) => new()
    {
        ConnectCallback = async (context, cancellation) =>
        {
            var tcp = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true, ReceiveBufferSize = receiveBufferBytes };
            try
            {
                await tcp.ConnectAsync(context.DnsEndPoint, cancellation).ConfigureAwait(false);
                return new NetworkStream(tcp, ownsSocket: true);
            }
            catch
            {
                tcp.Dispose();
                throw;
            }
        },
    };

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
