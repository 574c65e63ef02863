using System.Text.Json;
using System.Text.Json.Nodes;
using CallGrains.Client.Internal;
using CallGrains.Client.Protocol;

namespace CallGrains.Client;

/// <summary>Requests: one at a time on the connection of the moment, counted per call while in flight so a resync leaves them be.</summary>
public sealed partial class CallGrainsClient
{
    private async Task<CallInfo> CallRequestAsync(string op, string? sessionId, JsonObject args, CancellationToken cancellationToken)
    {
        var response = await RequestAsync(op, sessionId, args, cancellationToken).ConfigureAwait(false);
        return WireFormat.ParseCall(response.GetProperty("call"));
    }

    /// <summary>Sends one request and waits for its response; an error response throws.</summary>
    private async Task<JsonElement> RequestAsync(string op, string? sessionId, JsonObject args, CancellationToken cancellationToken)
    {
        var id = $"c{Interlocked.Increment(ref _nextId)}";
        args["id"] = id;
        args["op"] = op;
        if (sessionId is not null)
        {
            ArgumentException.ThrowIfNullOrEmpty(sessionId);
            args["sessionId"] = sessionId;
        }

        ProtocolConnection connection;
        Pending pending;
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_state != ConnectionState.Connected || _connection is null)
            {
                throw new CallGrainsException(ErrorCodes.NotConnected, $"not connected ({_state}): {op} was not sent");
            }

            connection = _connection;
            pending = new Pending(op, sessionId, connection);
            _pending[id] = pending;
            Track(pending, +1);
        }

        PendingRequest request;
        try
        {
            request = await connection.SendRequestAsync(op, args, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is CallGrainsException or OperationCanceledException or ObjectDisposedException)
        {
            Forget(id, pending);
            throw;
        }

        ProtocolMessage? response;
        try
        {
            // A response that comes after the wait gave up still updates the view (the reader applies it).
            response = await request.Response.WaitAsync(_options.RequestTimeout, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException ex)
        {
            throw new CallGrainsException(ErrorCodes.Timeout, $"{op}: no response within {_options.RequestTimeout.TotalSeconds:0.#} s", innerException: ex);
        }

        if (response is not { Json: var json })
        {
            throw new CallGrainsException(ErrorCodes.NotConnected, $"the connection dropped before the response to {op}; the view after reconnecting tells whether it was carried out");
        }

        if (WireFormat.Error(json) is var (code, message) && !response.Ok)
        {
            throw new CallGrainsException(code, message, WireFormat.OptionalCall(json, "call"));
        }

        return json;
    }

    private void Forget(string id, Pending pending)
    {
        lock (_gate)
        {
            if (_pending.Remove(id))
            {
                Track(pending, -1);
            }
        }
    }

    /// <summary>Counts the requests in flight per call (and initiates), which a resync must not second-guess. Under the lock.</summary>
    private void Track(Pending pending, int delta)
    {
        if (pending.Op == "initiateCall")
        {
            _initiating += delta;
        }
        else if (pending.SessionId is { } session && pending.Op != "signal")
        {
            var count = _busySessions.GetValueOrDefault(session) + delta;
            if (count > 0)
            {
                _busySessions[session] = count;
            }
            else
            {
                _busySessions.Remove(session);
            }
        }
    }

    /// <summary>A request in flight, as the view sees it: what it does to which call, on which connection.</summary>
    private sealed record Pending(string Op, string? SessionId, ProtocolConnection Connection);
}
