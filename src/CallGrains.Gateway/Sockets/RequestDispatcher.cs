using System.Text;
using System.Text.Json;
using CallGrains.Abstractions;
using Microsoft.Extensions.Logging;

namespace CallGrains.Gateway;

/// <summary>The operations of PROTOCOL section 4: one request in, exactly one response out.</summary>
public sealed class Operations(IGrainFactory grains, Tokens tokens, GatewayMetrics metrics, TimeProvider time, ILogger<Operations> logger)
{
    private const int MaxIdLength = 64;

    public async Task<byte[]> HandleAsync(Connection connection, ReadOnlyMemory<byte> message)
    {
        // Before anything is parsed, so a flood of malformed frames is limited like any other.
        if (!connection.TryTakeToken())
        {
            metrics.Request(GatewayMetrics.NoOp, "limited");
            return Wire.Error(Wire.PeekId(message.Span, MaxIdLength), connection.Seq, CallErrorCode.TooManyRequests, "slow down: too many requests on this connection");
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
            catch (BadRequest bad)
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
        "rejectCall" => CallOpAsync(c, id, s => s.RejectCall(c.Uid, ParseRejectStatus(root), c.DeviceId), root),
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
            ReceiverId = RequiredString(root, "receiverId"),
            ReceiverType = RequiredString(root, "receiverType") switch
            {
                "user" => ReceiverType.User,
                "group" => ReceiverType.Group,
                _ => throw new BadRequest("receiverType must be \"user\" or \"group\""),
            },
            CallType = RequiredString(root, "callType") switch
            {
                "audio" => CallType.Audio,
                "video" => CallType.Video,
                _ => throw new BadRequest("callType must be \"audio\" or \"video\""),
            },
            TimeoutSeconds = OptionalTimeout(root),
            Metadata = OptionalObject(root, "metadata", Limits.MaxMetadataBytes),
            DeviceId = c.DeviceId,
        };
        if (!Identifiers.IsValidUid(request.ReceiverId))
        {
            throw new BadRequest("receiverId must be 1-100 characters of [A-Za-z0-9_-]");
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
        var to = RequiredString(root, "to");
        var data = OptionalObject(root, "data", Limits.MaxSignalBytes) ?? throw new BadRequest("data is required and must be an object");
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

    private ICallSessionGrain Session(JsonElement root)
    {
        if (!root.TryGetProperty("sessionId", out var element) || element.ValueKind != JsonValueKind.String)
        {
            throw new BadRequest("sessionId is required and must be a string");
        }

        var sessionId = element.GetString()!;
        return Identifiers.IsValidSessionId(sessionId)
            ? grains.Ref<ICallSessionGrain>(sessionId)
            : throw new BadRequest("sessionId must be 1-128 characters of [A-Za-z0-9._:-]", CallErrorCode.InvalidSessionId);
    }

    private static CallStatus ParseRejectStatus(JsonElement root) => RequiredString(root, "status") switch
    {
        "rejected" => CallStatus.Rejected,
        "busy" => CallStatus.Busy,
        "cancelled" => CallStatus.Cancelled,
        _ => throw new BadRequest("status must be \"rejected\", \"busy\" or \"cancelled\""),
    };

    private static string RequiredString(JsonElement root, string name) =>
        root.TryGetProperty(name, out var element) && element.ValueKind == JsonValueKind.String
            ? element.GetString()!
            : throw new BadRequest($"{name} is required and must be a string");

    private static int? OptionalTimeout(JsonElement root)
    {
        if (!root.TryGetProperty("timeoutSeconds", out var element) || element.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        return element.ValueKind == JsonValueKind.Number && element.TryGetInt32(out var seconds)
            && seconds is >= Limits.MinTimeoutSeconds and <= Limits.MaxTimeoutSeconds
            ? seconds
            : throw new BadRequest($"timeoutSeconds must be a whole number from {Limits.MinTimeoutSeconds} to {Limits.MaxTimeoutSeconds}");
    }

    private static string? OptionalObject(JsonElement root, string name, int maxBytes)
    {
        if (!root.TryGetProperty(name, out var element) || element.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (element.ValueKind != JsonValueKind.Object)
        {
            throw new BadRequest($"{name} must be a JSON object");
        }

        var raw = element.GetRawText();
        return Encoding.UTF8.GetByteCount(raw) <= maxBytes ? raw : throw new BadRequest($"{name} must be at most {maxBytes} bytes");
    }

    private static string Truncate(string text) => text.Length <= 40 ? text : text[..40] + "…";

    private sealed class BadRequest(string message, CallErrorCode code = CallErrorCode.BadRequest) : Exception(message)
    {
        public CallErrorCode Code { get; } = code;
    }
}

/// <summary>The gateway's log messages: event ids 100-199 (the grains' are below 100, every id used once).</summary>
internal static partial class GatewayLog
{
    [LoggerMessage(101, LogLevel.Error, "Op {Op} of user {Uid} failed")]
    public static partial void OperationFailed(this ILogger logger, Exception exception, string op, string uid);

    [LoggerMessage(102, LogLevel.Information, "User {Uid} device {DeviceId} connected")]
    public static partial void Connected(this ILogger logger, string uid, string deviceId);

    [LoggerMessage(103, LogLevel.Information, "User {Uid} device {DeviceId} disconnected")]
    public static partial void Disconnected(this ILogger logger, string uid, string deviceId);

    [LoggerMessage(104, LogLevel.Warning, "User {Uid} device {DeviceId}: could not unregister the device")]
    public static partial void UnregisterFailed(this ILogger logger, Exception exception, string uid, string deviceId);

    [LoggerMessage(105, LogLevel.Warning, "Auth:AdminKey is not set; generated one for this Development run: {AdminKey}")]
    public static partial void GeneratedAdminKey(this ILogger logger, string adminKey);

    [LoggerMessage(106, LogLevel.Information, "Gateway stopping: closing {Count} sockets with 1012")]
    public static partial void Draining(this ILogger logger, int count);

    [LoggerMessage(108, LogLevel.Warning, "User {Uid} device {DeviceId}: could not register the connection")]
    public static partial void ConnectFailed(this ILogger logger, Exception exception, string uid, string deviceId);

    [LoggerMessage(107, LogLevel.Information, "Gateway {GatewayId} subscribed to its event stream")]
    public static partial void Subscribed(this ILogger logger, string gatewayId);

    [LoggerMessage(109, LogLevel.Information, "User {Uid} device {DeviceId}: auth token expired, closing with 4001")]
    public static partial void TokenExpired(this ILogger logger, string uid, string deviceId);
}
