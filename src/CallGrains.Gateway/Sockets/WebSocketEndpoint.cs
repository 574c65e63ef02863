using System.Buffers;
using System.Net.WebSockets;
using CallGrains.Abstractions;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace CallGrains.Gateway;

public static class WebSocketApi
{
    private const int InitialBufferBytes = 4 * 1024;

    // 250 ms, 1 s, 4 s apart.
    private const int UnregisterAttempts = 3;

    public static IEndpointRouteBuilder MapWebSocketApi(this IEndpointRouteBuilder app)
    {
        app.Map("/v1/ws", HandleAsync);
        return app;
    }

    private static async Task HandleAsync(HttpContext http)
    {
        var services = http.RequestServices;
        var options = services.GetRequiredService<IOptions<GatewayOptions>>().Value;
        var registry = services.GetRequiredService<ConnectionRegistry>();
        var tokens = services.GetRequiredService<Tokens>();
        var grains = services.GetRequiredService<IGrainFactory>();
        var gateway = services.GetRequiredService<GatewayIdentity>();

        // Everything is checked before the upgrade, so a refused client gets a plain HTTP status and JSON body.
        if (!IsAllowedOrigin(http.Request, options))
        {
            await RestResults.WriteError(http, StatusCodes.Status403Forbidden, CallErrorCode.PermissionDenied, "this origin may not open a WebSocket here (Gateway:AllowedOrigins)");
            return;
        }

        var token = Tokens.BearerToken(http.Request) ?? http.Request.Query["token"].FirstOrDefault();
        if (tokens.VerifyAuthToken(token) is not { } claims)
        {
            await RestResults.WriteError(http, StatusCodes.Status401Unauthorized, CallErrorCode.UserNotLoggedIn, "a valid auth token is required (Authorization: Bearer or ?token=)");
            return;
        }

        if (!http.WebSockets.IsWebSocketRequest)
        {
            await RestResults.WriteError(http, StatusCodes.Status400BadRequest, CallErrorCode.BadRequest, "this endpoint speaks WebSocket only");
            return;
        }

        var deviceId = http.Request.Query["deviceId"].FirstOrDefault() ?? $"d-{Guid.NewGuid():N}";
        if (!Identifiers.IsValidDeviceId(deviceId))
        {
            await RestResults.WriteError(http, StatusCodes.Status400BadRequest, CallErrorCode.BadRequest, "deviceId must be 1-64 characters of [A-Za-z0-9._-]");
            return;
        }

        if (registry.Count >= options.MaxConnections)
        {
            await RestResults.WriteError(http, StatusCodes.Status503ServiceUnavailable, CallErrorCode.TooManyRequests, "this gateway is full; try another");
            return;
        }

        var user = grains.Ref<IUserGrain>(claims.Uid);
        DeviceRegistration registration;
        UserSnapshot snapshot;
        try
        {
            registration = await user.RegisterDevice(deviceId, gateway.Id, claims.Generation);
            snapshot = registration.Snapshot is { } registered ? await Reconciliation.RepairAsync(grains, user, registered) : null!;
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // The cluster is briefly unable to answer (a silo leaving or dying, the store unreachable): say so
            // before the upgrade, so the client backs off and retries, here or at another gateway.
            services.GetRequiredService<ILogger<Connection>>().ConnectFailed(ex, claims.Uid, deviceId);
            await RestResults.WriteError(http, StatusCodes.Status503ServiceUnavailable, CallErrorCode.Internal, "the cluster could not take this connection now; retry shortly");
            return;
        }

        if (registration.Error is { } error)
        {
            var status = error.Code == CallErrorCode.TooManyRequests ? StatusCodes.Status429TooManyRequests : StatusCodes.Status401Unauthorized;
            var code = error.Code == CallErrorCode.TooManyRequests ? error.Code : CallErrorCode.UserNotLoggedIn;
            await RestResults.WriteError(http, status, code, error.Message);
            return;
        }

        using var socket = await http.WebSockets.AcceptWebSocketAsync(new WebSocketAcceptContext
        {
            KeepAliveInterval = TimeSpan.FromSeconds(options.PingIntervalSeconds),
            KeepAliveTimeout = TimeSpan.FromSeconds(options.IdleTimeoutSeconds),
        });
        var connection = new Connection(claims, deviceId, socket, options, services.GetRequiredKeyedService<TimeProvider>(GatewayHosting.ClockKey))
        {
            Epoch = registration.Epoch,
        };
        connection.SawSeq(snapshot.Seq);
        connection.Send(Wire.Welcome(deviceId, snapshot));
        await ServeAsync(connection, socket, services, gateway.Id, http.RequestAborted);
    }

    /// <summary>
    /// The life of an open socket. Kept apart from the upgrade so that, while the socket idles, nothing from the
    /// handshake (snapshot, claims, services) stays reachable from its state machine.
    /// </summary>
    private static async Task ServeAsync(Connection connection, WebSocket socket, IServiceProvider services, string gatewayId, CancellationToken aborted)
    {
        var registry = services.GetRequiredService<ConnectionRegistry>();
        var logger = services.GetRequiredService<ILogger<Connection>>();
        registry.Add(connection);
        logger.Connected(connection.Uid, connection.DeviceId);
        var sender = connection.RunSenderAsync(aborted);
        try
        {
            await ReceiveLoopAsync(connection, socket, services.GetRequiredService<IOptions<GatewayOptions>>().Value, services.GetRequiredService<Operations>());
        }
        finally
        {
            registry.Remove(connection);
            connection.Close(WebSocketCloseStatus.NormalClosure, "bye");
            await Task.WhenAny(sender, Task.Delay(TimeSpan.FromSeconds(5), CancellationToken.None));
            if (!connection.Replaced)
            {
                await UnregisterAsync(services.GetRequiredService<IGrainFactory>().Ref<IUserGrain>(connection.Uid), connection, gatewayId, logger);
            }

            logger.Disconnected(connection.Uid, connection.DeviceId);
        }
    }

    /// <summary>
    /// Tells the user grain this socket is gone, with its epoch (a newer socket of the same device stays registered).
    /// Retried a few times; what is still lost is caught by the user grain's check of its devices with this gateway
    /// while it is in a call (Calls:PresenceCheckSeconds), or when this gateway dies, by the presence index.
    /// </summary>
    private static async Task UnregisterAsync(IUserGrain user, Connection connection, string gatewayId, ILogger logger)
    {
        var delay = TimeSpan.FromMilliseconds(250);
        for (var attempt = 1; attempt <= UnregisterAttempts; attempt++)
        {
            try
            {
                await user.UnregisterDevice(connection.DeviceId, gatewayId, connection.Epoch);
                return;
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                logger.UnregisterFailed(ex, connection.Uid, connection.DeviceId);
                await Task.Delay(delay, CancellationToken.None);
                delay *= 4;
            }
        }
    }

    /// <summary>
    /// Reads one message at a time. While a socket is idle it holds no buffer: a zero-byte read waits for the next
    /// frame, and only then is a buffer rented, sized to the message, up to the limit.
    /// </summary>
    private static async Task ReceiveLoopAsync(Connection connection, WebSocket socket, GatewayOptions options, Operations operations)
    {
        try
        {
            while (!connection.IsClosing)
            {
                var first = await socket.ReceiveAsync(Memory<byte>.Empty, CancellationToken.None);
                if (first.MessageType == WebSocketMessageType.Close)
                {
                    connection.Close(WebSocketCloseStatus.NormalClosure, "bye");
                    return;
                }

                if (first.MessageType == WebSocketMessageType.Binary)
                {
                    connection.Close(WebSocketCloseStatus.InvalidMessageType, "only text (JSON) messages are accepted");
                    return;
                }

                var buffer = ArrayPool<byte>.Shared.Rent(InitialBufferBytes);
                try
                {
                    var length = 0;
                    var end = first.EndOfMessage;
                    while (!end)
                    {
                        if (length == buffer.Length)
                        {
                            if (length > options.MaxMessageBytes)
                            {
                                connection.Close(WebSocketCloseStatus.MessageTooBig, $"messages are limited to {options.MaxMessageBytes} bytes");
                                return;
                            }

                            var larger = ArrayPool<byte>.Shared.Rent(Math.Min(buffer.Length * 4, options.MaxMessageBytes + 1));
                            buffer.AsSpan(0, length).CopyTo(larger);
                            ArrayPool<byte>.Shared.Return(buffer);
                            buffer = larger;
                        }

                        var read = await socket.ReceiveAsync(buffer.AsMemory(length), CancellationToken.None);
                        length += read.Count;
                        end = read.EndOfMessage;
                    }

                    if (length > options.MaxMessageBytes)
                    {
                        connection.Close(WebSocketCloseStatus.MessageTooBig, $"messages are limited to {options.MaxMessageBytes} bytes");
                        return;
                    }

                    connection.Send(await operations.HandleAsync(connection, buffer.AsMemory(0, length)));
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                }
            }
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException)
        {
            // The peer vanished or stopped answering pings.
        }
    }

    /// <summary>
    /// A WebSocket upgrade is not subject to CORS: a page of any site may open a socket here from a user's browser.
    /// Browsers always send <c>Origin</c>, so <c>Gateway:AllowedOrigins</c> keeps other sites' pages out; clients
    /// that are not browsers send none and are let through.
    /// </summary>
    private static bool IsAllowedOrigin(HttpRequest request, GatewayOptions options)
    {
        if (options.AllowedOrigins.Length == 0 || request.Headers.Origin.FirstOrDefault() is not { } origin)
        {
            return true;
        }

        origin = origin.TrimEnd('/');
        return options.AllowedOrigins.Any(allowed => string.Equals(allowed.TrimEnd('/'), origin, StringComparison.OrdinalIgnoreCase));
    }
}
