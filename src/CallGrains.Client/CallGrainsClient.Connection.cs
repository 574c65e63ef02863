using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using CallGrains.Client.Internal;
using CallGrains.Client.Protocol;

namespace CallGrains.Client;

/// <summary>The connection's life: opening, taking the welcome, reconnecting with back-off, telling the state.</summary>
public sealed partial class CallGrainsClient
{
    /// <summary>A connection that stayed up this long was healthy: the next drop starts the back-off afresh.</summary>
    private static readonly TimeSpan StableConnection = TimeSpan.FromSeconds(10);

    private Task? _runner;

    /// <summary>Opens a socket and takes its <c>welcome</c>: the view it carries replaces the client's (raising what was missed, on a reconnect).</summary>
    private async Task<ProtocolConnection> OpenAsync(bool reconnect, CancellationToken cancellationToken)
    {
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _lifetime.Token);
        limit.CancelAfter(_options.ConnectTimeout);
        ProtocolConnection? connection = null;
        try
        {
            connection = await Transport.OpenAsync(ConnectionOptions(), limit.Token).ConfigureAwait(false);
            var welcome = await connection.ReceiveAsync(limit.Token).ConfigureAwait(false);
            if (welcome is not { Event: "welcome", Json: var w })
            {
                throw ClosedEarly(connection);
            }

            lock (_gate)
            {
                ObjectDisposedException.ThrowIf(_disposed, this);
                Uid = WireFormat.Str(w, "uid");
                DeviceId = WireFormat.Str(w, "deviceId");
                _gapSeq = -1;
                ApplySnapshot(w, WireFormat.OptionalLong(w, "seq") ?? 0, raise: reconnect);
                _connection = connection;
                Transport.Start(connection, HandleSafely);
                if (reconnect)
                {
                    SetStateLocked(ConnectionState.Connected, null, null);
                }
                else
                {
                    // ConnectAsync returns connected: no handler can be attached yet to hear of it.
                    _state = ConnectionState.Connected;
                }
            }

            return connection;
        }
        catch (OperationCanceledException ex) when (!cancellationToken.IsCancellationRequested && !_lifetime.IsCancellationRequested)
        {
            connection?.Dispose();
            throw new CallGrainsException(ErrorCodes.Timeout, $"no connection within {_options.ConnectTimeout.TotalSeconds:0.#} s", innerException: ex);
        }
        catch
        {
            connection?.Dispose();
            throw;
        }
    }

    private ProtocolConnectionOptions ConnectionOptions() => new()
    {
        Server = _options.Server,
        Token = _options.Token,
        DeviceId = DeviceId.Length > 0 ? DeviceId : null,
        KeepAliveInterval = _options.KeepAliveInterval,
        KeepAliveTimeout = _options.KeepAliveInterval * 2,
        HttpHandler = _options.HttpHandler,
    };

    private static CallGrainsException ClosedEarly(ProtocolConnection connection) => (int?)connection.CloseStatus switch
    {
        CloseCodes.TokenRevoked => new CallGrainsException(ErrorCodes.UserNotLoggedIn, connection.CloseDescription ?? "auth token revoked", httpStatus: 401),
        _ => new CallGrainsException(ErrorCodes.NotConnected, $"the server closed the connection before its welcome ({connection.CloseStatus} {connection.CloseDescription})"),
    };

    /// <summary>Whether a refused connection should stop the client (bad token, bad device id, refused origin) rather than be retried.</summary>
    private static bool IsFatal(CallGrainsException ex) => ex.HttpStatus is 400 or 401 or 403;

    /// <summary>Waits for the connection to drop, then reconnects with back-off until it is disposed or refused for good.</summary>
    private async Task RunAsync(ProtocolConnection connection)
    {
        var backoff = new Backoff(_options.ReconnectBaseDelay, _options.ReconnectMaxDelay, _options.ReconnectMinInterval);
        var attempt = 0;
        while (true)
        {
            await connection.Completion.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            var (status, description) = ((int?)connection.CloseStatus, connection.CloseDescription);
            Abandon(connection);
            connection.Dispose();
            if (_lifetime.IsCancellationRequested)
            {
                return;
            }

            if (status == CloseCodes.TokenRevoked)
            {
                SetState(ConnectionState.Disconnected, ErrorCodes.UserNotLoggedIn, description ?? "auth token revoked or expired");
                return;
            }

            if (status == CloseCodes.Replaced)
            {
                SetState(ConnectionState.Disconnected, "replaced", description ?? "a newer connection of this device replaced this one");
                return;
            }

            if (!_options.AutoReconnect)
            {
                SetState(ConnectionState.Disconnected, status?.ToString(CultureInfo.InvariantCulture), description ?? "connection lost");
                return;
            }

            attempt = DateTimeOffset.UtcNow - connection.OpenedAt >= StableConnection ? 0 : attempt;
            SetState(ConnectionState.Reconnecting, status?.ToString(CultureInfo.InvariantCulture), description ?? "connection lost");
            while (true)
            {
                try
                {
                    await Task.Delay(backoff.Delay(attempt++), _lifetime.Token).ConfigureAwait(false);
                    connection = await OpenAsync(reconnect: true, CancellationToken.None).ConfigureAwait(false);
                    break;
                }
                catch (CallGrainsException ex) when (IsFatal(ex))
                {
                    SetState(ConnectionState.Disconnected, ex.Code, ex.ServerMessage);
                    return;
                }
                catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException && _lifetime.IsCancellationRequested)
                {
                    return;
                }
#pragma warning disable CA1031 // Whatever failed this attempt (refused, reset, a garbled welcome), the next one may succeed.
                catch (Exception ex)
#pragma warning restore CA1031
                {
                    Trace.TraceInformation($"CallGrains.Client: reconnect attempt {attempt} failed: {ex.Message}");
                }
            }
        }
    }

    /// <summary>The requests sent on a connection that dropped will get no response: they no longer count as in flight.</summary>
    private void Abandon(ProtocolConnection connection)
    {
        lock (_gate)
        {
            if (_connection == connection)
            {
                _connection = null;
            }

            foreach (var (id, pending) in _pending.Where(p => p.Value.Connection == connection).ToList())
            {
                _pending.Remove(id);
                Track(pending, -1);
            }
        }
    }

    /// <summary>Handles one message on the reader; one it cannot read is passed over, not allowed to stop the reading.</summary>
    private void HandleSafely(ProtocolMessage message)
    {
        try
        {
            Handle(message);
        }
        catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            Trace.TraceWarning($"CallGrains.Client: ignored a message it could not read: {ex.Message}");
        }
    }

    private void SetState(ConnectionState state, string? code, string? message)
    {
        lock (_gate)
        {
            SetStateLocked(state, code, message);
        }
    }

    private void SetStateLocked(ConnectionState state, string? code, string? message)
    {
        if (_state == state || _state == ConnectionState.Disconnected)
        {
            return;
        }

        _state = state;
        var args = new ConnectionStateChangedEventArgs(state, code, message);
        _events.Post(() => ConnectionStateChanged?.Invoke(this, args));
    }

    /// <summary>The server's close codes the client acts on (docs/protocol.md).</summary>
    private static class CloseCodes
    {
        public const int Replaced = 4000;
        public const int TokenRevoked = 4001;
    }
}
