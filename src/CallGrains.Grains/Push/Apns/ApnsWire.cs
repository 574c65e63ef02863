using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using CallGrains.Abstractions;

namespace CallGrains.Grains.Push.Apns;

/// <summary>How a <see cref="PushMessage"/> looks on the APNs wire: its headers and its JSON payload (docs/push.md, "APNs").</summary>
public sealed record ApnsWire(string PushType, string Topic, int Priority, long Expiration, string CollapseId, byte[] Payload)
{
    /// <summary>APNs' limit on <c>apns-collapse-id</c>, in bytes.</summary>
    public const int MaxCollapseIdBytes = 64;

    /// <summary>APNs' payload limits in bytes: a VoIP push 5,120, any other 4,096 (more is refused: 413 <c>PayloadTooLarge</c>).</summary>
    public const int MaxVoipPayloadBytes = 5120;

    public const int MaxPayloadBytes = 4096;

    /// <summary>
    /// A PushKit (apns-voip) token takes only VoIP pushes on the <c>.voip</c> topic: its ring, and its cancel (a background
    /// push to it would be refused as <c>DeviceTokenNotForTopic</c>). An apns token gets alerts for rings and missed
    /// calls and a silent background push for a cancel.
    /// </summary>
    public static ApnsWire For(PushMessage message, string topic)
    {
        var collapseId = CollapseIdFor(message.SessionId);
        if (message.Platform == PushPlatform.ApnsVoip)
        {
            // Expiration 0: delivered now or never; a ring (or its cancel) stored for a phone that is off would be stale.
            return new ApnsWire("voip", topic + ".voip", 10, 0, collapseId, Fitted(message, aps: null, MaxVoipPayloadBytes));
        }

        var expiration = Math.Max(1, message.ExpiresAt.ToUnixTimeSeconds());
        return message.Kind == PushKind.Cancel
            ? new ApnsWire("background", topic, 5, expiration, collapseId, Fitted(message, WriteBackground, MaxPayloadBytes))
            : new ApnsWire("alert", topic, 10, expiration, collapseId, Fitted(message, WriteAlert, MaxPayloadBytes));
    }

    /// <summary>The payload with the whole call, or with the call cut to fit when the whole one passes APNs' limit.</summary>
    private static byte[] Fitted(PushMessage message, Action<Utf8JsonWriter, PushMessage>? aps, int limit)
    {
        var payload = PayloadOf(message, aps, message.CallJson);
        return payload.Length > limit && message.CompactCallJson is { } compact ? PayloadOf(message, aps, compact) : payload;
    }

    /// <summary>The session id when it fits (PROTOCOL session ids are ASCII); a hash of it when longer than APNs allows.</summary>
    public static string CollapseIdFor(string sessionId) =>
        sessionId.Length <= MaxCollapseIdBytes && Ascii.IsValid(sessionId)
            ? sessionId
            : "cg-" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(sessionId)))[..40];

    private static byte[] PayloadOf(PushMessage message, Action<Utf8JsonWriter, PushMessage>? aps, string callJson)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            if (aps is not null)
            {
                writer.WriteStartObject("aps");
                aps(writer, message);
                writer.WriteEndObject();
            }

            writer.WriteStartObject("callgrains");
            writer.WriteString("event", message.Event);
            writer.WriteString("pushId", message.PushId.ToString("D"));
            if (message.Reason is not null)
            {
                writer.WriteString("reason", message.Reason);
            }

            writer.WritePropertyName("call");
            writer.WriteRawValue(callJson);
            writer.WriteEndObject();
            writer.WriteEndObject();
        }

        return buffer.ToArray();
    }

    private static void WriteBackground(Utf8JsonWriter writer, PushMessage message) => writer.WriteNumber("content-available", 1);

    private static void WriteAlert(Utf8JsonWriter writer, PushMessage message)
    {
        writer.WriteStartObject("alert");
        if (message.AlertTitle is not null)
        {
            writer.WriteString("title", message.AlertTitle);
        }

        writer.WriteString("body", message.AlertBody ?? message.AlertTitle ?? message.Event);
        writer.WriteEndObject();
        writer.WriteString("sound", "default");
    }
}
