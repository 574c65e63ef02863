using System.Buffers;
using System.Net.WebSockets;
using CallGrains.Abstractions;
using CallGrains.Gateway.Auth;
using CallGrains.Gateway.Protocol;
using CallGrains.Gateway.Rest;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace CallGrains.Gateway.Sockets;

public static class WebSocketApi
{
    public static IEndpointRouteBuilder MapWebSocketApi(this IEndpointRouteBuilder app)
    {
        app.Map("/v1/ws", http => http.RequestServices.GetRequiredService<WebSocketEndpoint>().HandleAsync(http));
        return app;
    }
}

/// <summary>The WebSocket endpoint of PROTOCOL section 2: admits a socket, serves it, and reads its requests one at a time.</summary>
internal sealed partial class WebSocketEndpoint(
    IOptions<GatewayOptions> options,
    ConnectionRegistry registry,
    Tokens tokens,
    IGrainFactory grains,
    GatewayIdentity gateway,
    [FromKeyedServices(GatewayHosting.ClockKey)] TimeProvider clock,
    RequestDispatcher dispatcher,
    RestRateLimit rateLimit,
    ILogger<Connection> logger)
{
    private const int InitialBufferBytes = 4 * 1024;

    // 250 ms, 1 s, 4 s apart.
    private const int UnregisterAttempts = 3;

    private readonly GatewayOptions _options = options.Value;

    /// <summary>What an upgrade request says, whichever path read it; the checks fill in its claims and device.</summary>
    private sealed record UpgradeRequest(string? Origin, string? Token, string? DeviceId, bool IsWebSocket)
    {
        public AuthClaims? Claims { get; set; }

        public string? Device { get; set; }
    }

    private readonly record struct Refusal(int Status, CallErrorCode Code, string Message);

    private sealed record Admitted(AuthClaims Claims, string DeviceId, long Epoch, UserSnapshot Snapshot, ConnectionRegistry.Arrival Arrival);

    public async Task HandleAsync(HttpContext http)
    {
        if (await UpgradeAsync(http) is { } serving)
        {
            await serving;
        }
    }

    /// <summary>Checks, registers and upgrades; the socket's serving, or null once a refusal has been written.</summary>
    private async Task<Task?> UpgradeAsync(HttpContext http)
    {
        var request = new UpgradeRequest(
            http.Request.Headers.Origin.FirstOrDefault(), Tokens.RequestToken(http.Request), http.Request.Query["deviceId"].FirstOrDefault(), http.WebSockets.IsWebSocketRequest);
        if (Check(request) is { } refusal)
        {
            await RestResults.WriteError(http, refusal.Status, refusal.Code, refusal.Message);
            return null;
        }

        if (await AdmitAsync(request.Claims!.Value, request.Device!, (status, code, message) => RestResults.WriteError(http, status, code, message)) is not { } admitted)
        {
            return null;
        }

        WebSocket socket;
        try
        {
            socket = await http.WebSockets.AcceptWebSocketAsync(new WebSocketAcceptContext
            {
                // The token a browser offers as a subprotocol is never echoed: the server selects callgrains.v1.
                SubProtocol = http.WebSockets.WebSocketRequestedProtocols.Contains(Tokens.SubProtocol) ? Tokens.SubProtocol : null,
                KeepAliveInterval = TimeSpan.FromSeconds(_options.PingIntervalSeconds),
                KeepAliveTimeout = TimeSpan.FromSeconds(_options.IdleTimeoutSeconds),
            });
        }
        catch (Exception ex)
        {
            await UpgradeFailedAsync(ex, admitted);
            if (!http.Response.HasStarted)
            {
                await RestResults.WriteError(http, StatusCodes.Status503ServiceUnavailable, CallErrorCode.Internal, "the upgrade failed; retry shortly");
            }

            return null;
        }

        return Serve(admitted, socket, http.RequestAborted);
    }

    /// <summary>
    /// Starts serving an upgraded socket: its welcome, then <see cref="ServeAsync"/>. Not async on purpose: nothing of
    /// the admission (the snapshot the welcome was made of, the claims, the request) stays reachable from the
    /// state machines that wait while the socket idles.
    /// </summary>
    private Task Serve(Admitted admitted, WebSocket socket, CancellationToken aborted)
    {
        Connection connection;
        try
        {
            connection = new Connection(admitted.Claims, admitted.DeviceId, socket, _options, clock, aborted)
            {
                Epoch = admitted.Epoch,
            };
            connection.SawSeq(admitted.Snapshot.Seq);
            connection.Send(Wire.Welcome(admitted.DeviceId, admitted.Snapshot));
        }
        catch
        {
            admitted.Arrival.Dispose();
            socket.Dispose();
            throw;
        }

        return ServeAsync(connection, socket, admitted.Arrival);
    }

    /// <summary>
    /// The device is registered: a socket that never opened must not stay so (it would ring, and count against the
    /// user's device cap, until the presence check found it gone).
    /// </summary>
    private Task UpgradeFailedAsync(Exception ex, Admitted admitted)
    {
        admitted.Arrival.Dispose();
        logger.UpgradeFailed(ex, admitted.Claims.Uid, admitted.DeviceId);
        return UnregisterAsync(admitted.Claims.Uid, admitted.DeviceId, admitted.Epoch);
    }

    /// <summary>Checks origin, token, upgrade, device and capacity; the refusal to answer, or null (and the claims set).</summary>
    private Refusal? Check(UpgradeRequest request)
    {
        // Everything is checked before the upgrade, so a refused client gets a plain HTTP status and JSON body.
        if (!IsAllowedOrigin(request.Origin))
        {
            return new(StatusCodes.Status403Forbidden, CallErrorCode.PermissionDenied, "this origin may not open a WebSocket here (Gateway:AllowedOrigins)");
        }

        if (tokens.VerifyAuthToken(request.Token) is not { } claims)
        {
            return new(StatusCodes.Status401Unauthorized, CallErrorCode.UserNotLoggedIn, "a valid auth token is required (Authorization: Bearer, subprotocol callgrains.auth.<token>, or ?token=)");
        }

        if (!request.IsWebSocket)
        {
            return new(StatusCodes.Status400BadRequest, CallErrorCode.BadRequest, "this endpoint speaks WebSocket only");
        }

        var deviceId = request.DeviceId ?? $"d-{Guid.NewGuid():N}";
        if (!Identifiers.IsValidDeviceId(deviceId))
        {
            return new(StatusCodes.Status400BadRequest, CallErrorCode.BadRequest, "deviceId must be 1-64 characters of [A-Za-z0-9._-]");
        }

        if (registry.Count >= _options.MaxConnections)
        {
            return new(StatusCodes.Status503ServiceUnavailable, CallErrorCode.TooManyRequests, "this gateway is full; try another");
        }

        request.Claims = claims;
        request.Device = deviceId;
        return null;
    }

    /// <summary>Registers the device with its user grain; null once a refusal has been written.</summary>
    private async Task<Admitted?> AdmitAsync(AuthClaims claims, string deviceId, Func<int, CallErrorCode, string, Task> refuse)
    {
        // From here until the socket joins the registry, what the user grain publishes for this device is kept.
        var arrival = registry.Expect(claims.Uid, deviceId);
        var admitted = false;
        try
        {
            if (await RegisterAsync(claims, deviceId, refuse) is not { } registered)
            {
                return null;
            }

            admitted = true;
            return new Admitted(claims, deviceId, registered.Epoch, registered.Snapshot, arrival);
        }
        finally
        {
            if (!admitted)
            {
                arrival.Dispose();
            }
        }
    }

    /// <summary>Registers the device with its user grain and checks the snapshot for the welcome; null once a refusal has been written.</summary>
    private async Task<(long Epoch, UserSnapshot Snapshot)?> RegisterAsync(AuthClaims claims, string deviceId, Func<int, CallErrorCode, string, Task> refuse)
    {
        var user = grains.Ref<IUserGrain>(claims.Uid);
        DeviceRegistration registration;
        try
        {
            registration = await user.RegisterDevice(deviceId, gateway.Id, claims.Generation);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            await ClusterUnavailableAsync(refuse, ex, claims.Uid, deviceId);
            return null;
        }

        if (registration.Error is { } error)
        {
            var status = error.Code == CallErrorCode.TooManyRequests ? StatusCodes.Status429TooManyRequests : StatusCodes.Status401Unauthorized;
            var code = error.Code == CallErrorCode.TooManyRequests ? error.Code : CallErrorCode.UserNotLoggedIn;
            await refuse(status, code, error.Message);
            return null;
        }

        UserSnapshot snapshot;
        try
        {
            snapshot = registration.Snapshot is { } registered ? await Reconciliation.RepairAsync(grains, user, registered) : null!;
        }
        catch (Exception ex)
        {
            // Registered, but no socket will follow.
            await UnregisterAsync(claims.Uid, deviceId, registration.Epoch);
            if (ex is OperationCanceledException)
            {
                throw;
            }

            await ClusterUnavailableAsync(refuse, ex, claims.Uid, deviceId);
            return null;
        }

        return (registration.Epoch, snapshot);
    }

    /// <summary>
    /// The cluster is briefly unable to answer (a silo leaving or dying, the store unreachable): say so before the
    /// upgrade, so the client backs off and retries, here or at another gateway.
    /// </summary>
    private Task ClusterUnavailableAsync(Func<int, CallErrorCode, string, Task> refuse, Exception ex, string uid, string deviceId)
    {
        logger.ConnectFailed(ex, uid, deviceId);
        return refuse(StatusCodes.Status503ServiceUnavailable, CallErrorCode.Internal, "the cluster could not take this connection now; retry shortly");
    }

    /// <summary>
    /// The life of an open socket: it joins the registry here, and from then on one state machine waits while it
    /// idles, the receive loop's, which also ends it.
    /// </summary>
    private Task ServeAsync(Connection connection, WebSocket socket, ConnectionRegistry.Arrival arrival)
    {
        using (arrival)
        {
            registry.Add(connection, arrival);
        }

        logger.Connected(connection.Uid, connection.DeviceId);
        return ReceiveLoopAsync(connection, socket);
    }

    /// <summary>After the receive loop: the socket leaves the registry, is closed, and its device unregistered.</summary>
    private async Task EndAsync(Connection connection)
    {
        connection.ReceiveEnded();
        registry.Remove(connection);
        connection.Close(CloseCodes.Normal, "bye");
        await Task.WhenAny(connection.SendsDone, Task.Delay(TimeSpan.FromSeconds(5), CancellationToken.None));
        if (!connection.Replaced)
        {
            await UnregisterAsync(connection.Uid, connection.DeviceId, connection.Epoch);
        }

        logger.Disconnected(connection.Uid, connection.DeviceId);
    }

    /// <summary>
    /// Tells the user grain this socket is gone, with its epoch (a newer socket of the same device stays registered).
    /// Retried a few times; what is still lost is caught by the user grain's check of its devices with this gateway
    /// while it is in a call (Calls:PresenceCheckSeconds), or when this gateway dies, by the presence index.
    /// </summary>
    private async Task UnregisterAsync(string uid, string deviceId, long epoch)
    {
        var user = grains.Ref<IUserGrain>(uid);
        var delay = TimeSpan.FromMilliseconds(250);
        for (var attempt = 1; attempt <= UnregisterAttempts; attempt++)
        {
            try
            {
                await user.UnregisterDevice(deviceId, gateway.Id, epoch);
                return;
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                logger.UnregisterFailed(ex, uid, deviceId);
                await Task.Delay(delay, CancellationToken.None);
                delay *= 4;
            }
        }
    }

    /// <summary>
    /// Reads one message at a time. While a socket is idle it holds no buffer: a zero-byte read waits for the next
    /// frame, and only then is a buffer rented, sized to the message, up to the limit. A message must be complete
    /// within <c>Gateway:IdleTimeoutSeconds</c> of its first frame: a peer that starts one and goes quiet (while
    /// still answering pings) is dropped, and the buffer goes back to the pool.
    /// </summary>
    private async Task ReceiveLoopAsync(Connection connection, WebSocket socket)
    {
        var messageTime = TimeSpan.FromSeconds(_options.IdleTimeoutSeconds);
        try
        {
            while (!connection.IsClosing)
            {
                var first = await socket.ReceiveAsync(Memory<byte>.Empty, CancellationToken.None);
                if (first.MessageType == WebSocketMessageType.Close)
                {
                    connection.Close(CloseCodes.Normal, "bye");
                    return;
                }

                if (first.MessageType == WebSocketMessageType.Binary)
                {
                    connection.Close(CloseCodes.BinaryMessage, "only text (JSON) messages are accepted");
                    return;
                }

                var buffer = ArrayPool<byte>.Shared.Rent(InitialBufferBytes);

                // Made per message, so an idle socket holds no timer.
                CancellationTokenSource? messageLimit = null;
                try
                {
                    var length = 0;
                    var end = first.EndOfMessage;
                    while (!end)
                    {
                        if (length == buffer.Length)
                        {
                            if (length > _options.MaxMessageBytes)
                            {
                                connection.Close(CloseCodes.MessageTooBig, $"messages are limited to {_options.MaxMessageBytes} bytes");
                                return;
                            }

                            var larger = ArrayPool<byte>.Shared.Rent(Math.Min(buffer.Length * 4, _options.MaxMessageBytes + 1));
                            buffer.AsSpan(0, length).CopyTo(larger);
                            ArrayPool<byte>.Shared.Return(buffer);
                            buffer = larger;
                        }

                        messageLimit ??= new CancellationTokenSource(messageTime, clock);
                        var read = await socket.ReceiveAsync(buffer.AsMemory(length), messageLimit.Token);
                        if (read.MessageType == WebSocketMessageType.Close)
                        {
                            // Closed in the middle of a message: what came of it is not a request (RFC 6455: a message ends at FIN).
                            connection.Close(CloseCodes.Normal, "bye");
                            return;
                        }

                        length += read.Count;
                        end = read.EndOfMessage;
                    }

                    if (length > _options.MaxMessageBytes)
                    {
                        connection.Close(CloseCodes.MessageTooBig, $"messages are limited to {_options.MaxMessageBytes} bytes");
                        return;
                    }

                    messageLimit?.Dispose();
                    messageLimit = null;
                    connection.Send(await dispatcher.HandleAsync(connection, buffer.AsMemory(0, length)));
                }
                finally
                {
                    messageLimit?.Dispose();
                    ArrayPool<byte>.Shared.Return(buffer);
                }
            }
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException)
        {
            // The peer vanished, stopped answering pings, or took too long over one message.
        }
        finally
        {
            await EndAsync(connection);
            socket.Dispose();
        }
    }

    /// <summary>
    /// A WebSocket upgrade is not subject to CORS: a page of any site may open a socket here from a user's browser.
    /// Browsers always send <c>Origin</c>, so <c>Gateway:AllowedOrigins</c> keeps other sites' pages out; clients
    /// that are not browsers send none and are let through.
    /// </summary>
    private bool IsAllowedOrigin(string? origin)
    {
        if (_options.AllowedOrigins.Length == 0 || origin is null)
        {
            return true;
        }

        origin = origin.TrimEnd('/');
        return _options.AllowedOrigins.Any(allowed => string.Equals(allowed.TrimEnd('/'), origin, StringComparison.OrdinalIgnoreCase));
    }
}
