using System.Diagnostics;
using System.Text.Json;

namespace CallGrains.Client.Protocol;

/// <summary>
/// One message from the server (PROTOCOL sections 2, 4 and 5): an event, a response or an error, with the fields a
/// client routes by read off it in place, and the whole JSON when the connection keeps it.
/// </summary>
public sealed class ProtocolMessage
{
    private ProtocolMessage(JsonElement json, long timestamp)
    {
        Json = json;
        Timestamp = timestamp;
        ReceivedAt = DateTimeOffset.UtcNow;
    }

    /// <summary>The event's name (<c>welcome</c>, <c>incomingCallReceived</c>, ...), or null for a response.</summary>
    public string? Event { get; private set; }

    /// <summary>The id of the request this message answers, or null.</summary>
    public string? Id { get; private set; }

    /// <summary>The op of the request this message answers, when that request was sent on the connection that received it.</summary>
    public string? Op { get; internal set; }

    /// <summary>True for a response with <c>"ok": true</c>.</summary>
    public bool Ok { get; private set; }

    /// <summary>The message's <c>seq</c>, if it has one.</summary>
    public long? Seq { get; private set; }

    /// <summary>The <c>sessionId</c> of the call the message carries (<c>call.sessionId</c>), if any.</summary>
    public string? SessionId { get; private set; }

    /// <summary>The error code of an error response (<c>error.code</c>), if any.</summary>
    public string? ErrorCode { get; private set; }

    /// <summary>When the message was read off the socket, in <see cref="Stopwatch"/> ticks.</summary>
    public long Timestamp { get; }

    /// <summary>When the message was read off the socket.</summary>
    public DateTimeOffset ReceivedAt { get; }

    /// <summary>The whole message; undefined (<c>default</c>) when the connection was told not to keep it (<see cref="ProtocolConnectionOptions.KeepJson"/>).</summary>
    public JsonElement Json { get; }

    /// <summary>Reads one message.</summary>
    /// <param name="utf8">The message's UTF-8 JSON.</param>
    /// <param name="keepJson">Whether to keep the whole message in <see cref="Json"/> (false reads the routing fields only).</param>
    /// <returns>The message.</returns>
    /// <exception cref="JsonException">The text is not one JSON value.</exception>
    public static ProtocolMessage Parse(ReadOnlySpan<byte> utf8, bool keepJson = true)
    {
        var timestamp = Stopwatch.GetTimestamp();
        JsonElement json = default;
        if (keepJson)
        {
            var reader = new Utf8JsonReader(utf8);
            json = JsonElement.ParseValue(ref reader);
        }

        var message = new ProtocolMessage(json, timestamp);
        message.ReadFields(utf8);
        return message;
    }

    /// <summary>Reads the routing fields without building a document: property names are compared in place, no string per name.</summary>
    private void ReadFields(ReadOnlySpan<byte> utf8)
    {
        var reader = new Utf8JsonReader(utf8);
        var depth = 0;
        var parent = Field.Other;
        var property = Field.Other;
        while (reader.Read())
        {
            switch (reader.TokenType)
            {
                case JsonTokenType.StartObject:
                case JsonTokenType.StartArray:
                    depth++;
                    if (depth == 2)
                    {
                        parent = property;
                    }

                    if (depth > 2)
                    {
                        reader.Skip();
                        depth--;
                    }

                    break;
                case JsonTokenType.EndObject:
                case JsonTokenType.EndArray:
                    depth--;
                    break;
                case JsonTokenType.PropertyName:
                    property = NameOf(ref reader);
                    break;
                case JsonTokenType.String when depth == 1 && property == Field.Event:
                    Event = reader.GetString();
                    break;
                case JsonTokenType.String when depth == 1 && property == Field.Id:
                    Id = reader.GetString();
                    break;
                case JsonTokenType.True when depth == 1 && property == Field.Ok:
                    Ok = true;
                    break;
                case JsonTokenType.Number when depth == 1 && property == Field.Seq && reader.TryGetInt64(out var seq):
                    Seq = seq;
                    break;
                case JsonTokenType.String when depth == 2 && parent == Field.Call && property == Field.SessionId:
                    SessionId = reader.GetString();
                    break;
                case JsonTokenType.String when depth == 2 && parent == Field.Error && property == Field.Code:
                    ErrorCode = reader.GetString();
                    break;
            }
        }
    }

    private static Field NameOf(ref Utf8JsonReader reader) =>
        reader.ValueTextEquals("event"u8) ? Field.Event
        : reader.ValueTextEquals("id"u8) ? Field.Id
        : reader.ValueTextEquals("ok"u8) ? Field.Ok
        : reader.ValueTextEquals("seq"u8) ? Field.Seq
        : reader.ValueTextEquals("call"u8) ? Field.Call
        : reader.ValueTextEquals("sessionId"u8) ? Field.SessionId
        : reader.ValueTextEquals("error"u8) ? Field.Error
        : reader.ValueTextEquals("code"u8) ? Field.Code
        : Field.Other;

    private enum Field
    {
        Other,
        Event,
        Id,
        Ok,
        Seq,
        Call,
        SessionId,
        Error,
        Code,
    }
}
