using System.Text;
using System.Text.Json;
using CallGrains.Abstractions;

namespace CallGrains.Gateway.Protocol;

/// <summary>Reads the fields of a PROTOCOL section 4 request; a field that breaks the protocol throws <see cref="BadRequestException"/>.</summary>
internal static class RequestReader
{
    /// <summary>
    /// A request's <c>id</c> without building a document: the first top-level <c>"id"</c> string of 1 to
    /// <paramref name="maxLength"/> characters, read up to that property; null if there is none or the frame breaks first.
    /// </summary>
    public static string? PeekId(ReadOnlySpan<byte> frame, int maxLength)
    {
        try
        {
            var reader = new Utf8JsonReader(frame, new JsonReaderOptions { MaxDepth = 32 });
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return null;
            }

            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var isId = reader.ValueTextEquals("id"u8);
                if (!reader.Read())
                {
                    return null;
                }

                if (isId)
                {
                    return reader.TokenType == JsonTokenType.String && reader.GetString() is { Length: > 0 } id && id.Length <= maxLength ? id : null;
                }

                if (!reader.TrySkip())
                {
                    return null;
                }
            }
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException)
        {
            // Broken before the id (or inside it): the error goes out with id null.
        }

        return null;
    }

    public static string RequiredString(JsonElement root, string name) =>
        root.TryGetProperty(name, out var element) && element.ValueKind == JsonValueKind.String
            ? element.GetString()!
            : throw new BadRequestException($"{name} is required and must be a string");

    public static ReceiverType RequiredReceiverType(JsonElement root) =>
        WireNames.TryParse(RequiredString(root, "receiverType"), out ReceiverType type)
            ? type
            : throw new BadRequestException("receiverType must be \"user\" or \"group\"");

    public static CallType RequiredCallType(JsonElement root) =>
        WireNames.TryParse(RequiredString(root, "callType"), out CallType type)
            ? type
            : throw new BadRequestException("callType must be \"audio\" or \"video\"");

    /// <summary>The <c>status</c> of a <c>rejectCall</c>: only the three a callee may choose.</summary>
    public static CallStatus RejectStatus(JsonElement root) =>
        WireNames.TryParse(RequiredString(root, "status"), out CallStatus status) && status is CallStatus.Rejected or CallStatus.Busy or CallStatus.Cancelled
            ? status
            : throw new BadRequestException("status must be \"rejected\", \"busy\" or \"cancelled\"");

    public static string RequiredSessionId(JsonElement root)
    {
        if (!root.TryGetProperty("sessionId", out var element) || element.ValueKind != JsonValueKind.String)
        {
            throw new BadRequestException("sessionId is required and must be a string");
        }

        var sessionId = element.GetString()!;
        return Identifiers.IsValidSessionId(sessionId)
            ? sessionId
            : throw new BadRequestException("sessionId must be 1-128 characters of [A-Za-z0-9._:-]", CallErrorCode.InvalidSessionId);
    }

    public static int? OptionalTimeout(JsonElement root)
    {
        if (!root.TryGetProperty("timeoutSeconds", out var element) || element.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        return element.ValueKind == JsonValueKind.Number && element.TryGetInt32(out var seconds)
            && seconds is >= Limits.MinTimeoutSeconds and <= Limits.MaxTimeoutSeconds
            ? seconds
            : throw new BadRequestException($"timeoutSeconds must be a whole number from {Limits.MinTimeoutSeconds} to {Limits.MaxTimeoutSeconds}");
    }

    public static string? OptionalObject(JsonElement root, string name, int maxBytes)
    {
        if (!root.TryGetProperty(name, out var element) || element.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (element.ValueKind != JsonValueKind.Object)
        {
            throw new BadRequestException($"{name} must be a JSON object");
        }

        var raw = element.GetRawText();
        return Encoding.UTF8.GetByteCount(raw) <= maxBytes ? raw : throw new BadRequestException($"{name} must be at most {maxBytes} bytes");
    }
}

/// <summary>A request field that breaks the protocol; answered with <see cref="Code"/> and the message.</summary>
internal sealed class BadRequestException(string message, CallErrorCode code = CallErrorCode.BadRequest) : Exception(message)
{
    public CallErrorCode Code { get; } = code;
}
