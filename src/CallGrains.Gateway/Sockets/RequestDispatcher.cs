using System.Text.Json;
using CallGrains.Abstractions;
using CallGrains.Gateway.Auth;
using CallGrains.Gateway.Protocol;
using Microsoft.Extensions.Logging;

namespace CallGrains.Gateway.Sockets;

/// <summary>Dispatches the operations of PROTOCOL section 4: one request in, exactly one response out.</summary>
public sealed class RequestDispatcher(IGrainFactory grains, Tokens tokens, GatewayMetrics metrics, TimeProvider time, ILogger<RequestDispatcher> logger)
{
    private const int MaxIdLength = 64;

    public async Task<byte[]> HandleAsync(Connection connection, ReadOnlyMemory<byte> message)
    {
        // Before anything is parsed, so a flood of malformed frames is limited like any other.
        if (!connection.TryTakeToken())
        {
            metrics.Request(GatewayMetrics.NoOp, "limited");
            return Wire.Error(RequestReader.PeekId(message.Span, MaxIdLength), connection.Seq, CallErrorCode.TooManyRequests, "slow down: too many requests on this connection");
        }

        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(message, new JsonDocumentOptions { MaxDepth = 32 });
        }
        catch (JsonException)
        {
            return Malformed(connection, null, "the message is not valid JSON");
        }

        using (doc)
        {
            if (JsonText.HasUnreadableString(message.Span))
            {
                return Malformed(connection, RequestReader.PeekId(message.Span, MaxIdLength), "the message holds a string that is not valid UTF-16 (a \\u escape of a lone surrogate)");
            }

            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                return Malformed(connection, null, "a request is a JSON object");
            }

            string? id = null;
            if (root.TryGetProperty("id", out var idElement))
            {
                if (idElement.ValueKind != JsonValueKind.String || idElement.GetString() is not { Length: > 0 and <= MaxIdLength } validId)
                {
                    return Malformed(connection, null, $"id must be a string of 1-{MaxIdLength} characters");
                }

                id = validId;
            }
            else
            {
                return Malformed(connection, null, "id is required");
            }

            if (!root.TryGetProperty("op", out var opElement) || opElement.ValueKind != JsonValueKind.String)
            {
                return Malformed(connection, id, "op is required and must be a string");
            }

            var op = opElement.GetString()!;

            try
            {
                var response = await DispatchAsync(connection, id, op, root);
                metrics.Request(op, "done");
                return response;
            }
            catch (BadRequestException bad)
            {
                metrics.Request(op, "bad");
                return Wire.Error(id, connection.Seq, bad.Code, bad.Message);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                logger.OperationFailed(ex, op, connection.Uid);
                metrics.Request(op, "internal");
                return Wire.Error(id, connection.Seq, CallErrorCode.Internal, "the server could not complete the request; try again");
            }
        }
    }

    private byte[] Malformed(Connection connection, string? id, string message)
    {
        metrics.Request(GatewayMetrics.NoOp, "malformed");
        return Wire.Error(id, connection.Seq, CallErrorCode.BadRequest, message);
    }

    private Task<byte[]> DispatchAsync(Connection c, string id, string op, JsonElement root) => op switch
    {
        "initiateCall" => InitiateAsync(c, id, root),
        "acceptCall" => CallOpAsync(c, id, s => s.AcceptCall(c.Uid, c.DeviceId), root),
        "rejectCall" => CallOpAsync(c, id, s => s.RejectCall(c.Uid, RequestReader.RejectStatus(root), c.DeviceId), root),
        "endCall" => CallOpAsync(c, id, s => s.EndCall(c.Uid, c.DeviceId), root),
        "joinCall" => CallOpAsync(c, id, s => s.JoinCall(c.Uid, c.DeviceId), root),
        "leaveCall" => CallOpAsync(c, id, s => s.LeaveCall(c.Uid, c.DeviceId), root),
        "generateToken" => GenerateTokenAsync(c, id, root),
        "sync" => SyncAsync(c, id),
        "signal" => SignalAsync(c, id, root),
        "ping" => Task.FromResult(Wire.Ok(id, c.Seq)),
        _ => Task.FromResult(Wire.Error(id, c.Seq, CallErrorCode.BadRequest, $"unknown op '{Truncate(op)}'")),
    };

    private async Task<byte[]> InitiateAsync(Connection c, string id, JsonElement root)
    {
        var started = time.GetTimestamp();
        var request = new InitiateRequest
        {
            CallerUid = c.Uid,
            ReceiverId = RequestReader.RequiredString(root, "receiverId"),
            ReceiverType = RequestReader.RequiredReceiverType(root),
            CallType = RequestReader.RequiredCallType(root),
            TimeoutSeconds = RequestReader.OptionalTimeout(root),
            Metadata = RequestReader.OptionalObject(root, "metadata", Limits.MaxMetadataBytes),
            DeviceId = c.DeviceId,
        };
        if (!Identifiers.IsValidUid(request.ReceiverId))
        {
            throw new BadRequestException("receiverId must be 1-100 characters of [A-Za-z0-9_-]");
        }

        var result = await grains.Ref<ICallSessionGrain>(Identifiers.NewSessionId()).InitiateCall(request);
        if (result.Ok)
        {
            metrics.CallSetUp(time.GetElapsedTime(started));
        }

        return Respond(c, id, result);
    }

    private async Task<byte[]> CallOpAsync(Connection c, string id, Func<ICallSessionGrain, Task<CallResult>> action, JsonElement root)
    {
        var session = Session(root);
        return Respond(c, id, await action(session));
    }

    private async Task<byte[]> GenerateTokenAsync(Connection c, string id, JsonElement root)
    {
        var session = Session(root);
        var result = await session.AuthorizeMedia(c.Uid);
        if (!result.Ok)
        {
            return Respond(c, id, result);
        }

        var (token, expiresAt) = tokens.IssueCallToken(c.Uid, result.Call!.SessionId);
        c.SawSeq(result.Seq);
        return Wire.Ok(id, c.Seq, w =>
        {
            w.WriteString("token", token);
            w.WriteNumber("expiresAt", expiresAt.ToUnixTimeSeconds());
        });
    }

    private async Task<byte[]> SyncAsync(Connection c, string id)
    {
        var user = grains.Ref<IUserGrain>(c.Uid);
        var snapshot = await user.GetSnapshot();
        if (snapshot is null)
        {
            return Wire.Error(id, c.Seq, CallErrorCode.UidNotFound, $"user {c.Uid} no longer exists");
        }

        snapshot = await Reconciliation.RepairAsync(grains, user, snapshot);

        c.SawSeq(snapshot.Seq);
        return Wire.Ok(id, snapshot.Seq, w =>
        {
            Wire.WriteCallOrNull(w, "activeCall", snapshot.ActiveCall);
            Wire.WriteCalls(w, "ringing", snapshot.Ringing);
        });
    }

    private async Task<byte[]> SignalAsync(Connection c, string id, JsonElement root)
    {
        var session = Session(root);
        var to = RequestReader.RequiredString(root, "to");
        var data = RequestReader.OptionalObject(root, "data", Limits.MaxSignalBytes) ?? throw new BadRequestException("data is required and must be an object");
        var result = await session.Signal(c.Uid, to, data);
        if (!result.Ok)
        {
            return Respond(c, id, result);
        }

        c.SawSeq(result.Seq);
        return Wire.Ok(id, c.Seq);
    }

    private static byte[] Respond(Connection c, string id, CallResult result)
    {
        c.SawSeq(result.Seq);
        var seq = Math.Max(result.Seq, c.Seq);
        return result.Ok
            ? Wire.Ok(id, seq, w =>
            {
                w.WritePropertyName("call");
                Wire.WriteCall(w, result.Call!);
            })
            : Wire.Error(id, seq, result.Error!.Code, result.Error.Message, result.Call);
    }

    private ICallSessionGrain Session(JsonElement root) => grains.Ref<ICallSessionGrain>(RequestReader.RequiredSessionId(root));

    private static string Truncate(string text) => text.Length <= 40 ? text : text[..40] + "…";
}
