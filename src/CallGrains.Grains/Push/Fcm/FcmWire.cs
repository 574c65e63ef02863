using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using CallGrains.Abstractions;

namespace CallGrains.Grains.Push.Fcm;

/// <summary>
/// The FCM HTTP v1 wire: a <see cref="PushMessage"/> as a <c>messages:send</c> body, and FCM's answer as a
/// <see cref="PushResult"/>. Pure, so every answer's meaning is plain to read and to test.
/// </summary>
internal static class FcmWire
{
    /// <summary>FCM keeps a message at most 28 days.</summary>
    public static readonly TimeSpan MaxTtl = TimeSpan.FromDays(28);

    /// <summary>
    /// The request body: a data message (every value a string; the call as JSON text), <c>android.priority: high</c> so
    /// a sleeping phone wakes, and a <c>ttl</c> of the push's remaining life in whole seconds, rounded down so FCM never
    /// delivers it after it stopped being useful. A missed-call alert adds a <c>notification</c> the phone shows itself.
    /// </summary>
    public static byte[] Body(PushMessage message, TimeSpan remaining)
    {
        var callJson = message.CompactCallJson is { } compact && DataBytes(message, message.CallJson) > MaxDataBytes ? compact : message.CallJson;
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteStartObject("message");
            json.WriteString("token", message.DeviceToken);

            json.WriteStartObject("data");
            json.WriteString("event", message.Event);
            json.WriteString("sessionId", message.SessionId);
            json.WriteString("call", callJson);
            json.WriteString("pushId", message.PushId.ToString("D"));
            if (message.Reason is not null)
            {
                json.WriteString("reason", message.Reason);
            }

            json.WriteEndObject();

            if (message.Kind == PushKind.Missed && (message.AlertTitle is not null || message.AlertBody is not null))
            {
                json.WriteStartObject("notification");
                if (message.AlertTitle is not null)
                {
                    json.WriteString("title", message.AlertTitle);
                }

                if (message.AlertBody is not null)
                {
                    json.WriteString("body", message.AlertBody);
                }

                json.WriteEndObject();
            }

            json.WriteStartObject("android");
            json.WriteString("priority", "high");
            json.WriteString("ttl", Ttl(remaining));
            json.WriteEndObject();

            json.WriteEndObject();
            json.WriteEndObject();
        }

        return buffer.ToArray();
    }

    /// <summary>
    /// What FCM counts against its 4,096-byte message limit (the data's keys and values, the notification's title and
    /// body, in UTF-8), less room for what FCM adds itself (about 45 bytes, and 6 a key): past this the call is cut to fit.
    /// </summary>
    public const int MaxDataBytes = 4000;

    public static int DataBytes(PushMessage message, string callJson)
    {
        static int Pair(string key, string? value) => value is null ? 0 : key.Length + Encoding.UTF8.GetByteCount(value);
        return Pair("event", message.Event) + Pair("sessionId", message.SessionId) + Pair("call", callJson) + Pair("pushId", "00000000-0000-0000-0000-000000000000")
            + Pair("reason", message.Reason)
            + (message.Kind == PushKind.Missed ? Pair("title", message.AlertTitle) + Pair("body", message.AlertBody) : 0);
    }

    public static string Ttl(TimeSpan remaining)
    {
        var capped = remaining < MaxTtl ? remaining : MaxTtl;
        var seconds = capped > TimeSpan.Zero ? (long)Math.Floor(capped.TotalSeconds) : 0;
        return seconds.ToString(CultureInfo.InvariantCulture) + "s";
    }

    /// <summary>
    /// What an answer other than 200 means. FCM names the error in <c>error.status</c> and, for its own errors, in a
    /// <c>google.firebase.fcm.v1.FcmError</c> detail's <c>errorCode</c>. The token is gone when FCM says
    /// <c>UNREGISTERED</c>, or <c>INVALID_ARGUMENT</c> about the token itself (a field violation on
    /// <c>message.token</c>, or a message about the registration token); any other bad argument is our request's fault
    /// and sending it again would not help. 429 and 5xx are retried, after <c>Retry-After</c> when FCM gives one.
    /// A 401 is the caller's to handle (a new access token); here it is final.
    /// </summary>
    public static PushResult Answer(HttpStatusCode status, string? body, TimeSpan? retryAfter)
    {
        var code = (int)status;
        var error = Error.Parse(body);
        var reason = error.ErrorCode ?? error.Status ?? code.ToString(CultureInfo.InvariantCulture);
        if (error.ErrorCode == "UNREGISTERED")
        {
            return new PushResult(PushOutcome.TokenGone, code, reason);
        }

        if (error.Status == "INVALID_ARGUMENT" || error.ErrorCode == "INVALID_ARGUMENT" || (code == 400 && error.Status is null))
        {
            return new PushResult(error.NamesToken ? PushOutcome.TokenGone : PushOutcome.Failed, code, error.NamesToken ? "INVALID_ARGUMENT (token)" : reason);
        }

        return code == 429 || code >= 500
            ? new PushResult(PushOutcome.Retry, code, reason, retryAfter)
            : new PushResult(PushOutcome.Failed, code, reason);
    }

    /// <summary>What an FCM error body says; anything unreadable is an error that says nothing.</summary>
    public sealed record Error(string? Status, string? ErrorCode, bool NamesToken)
    {
        private const string FcmErrorType = "type.googleapis.com/google.firebase.fcm.v1.FcmError";

        private static readonly Error None = new(null, null, false);

        public static Error Parse(string? body)
        {
            if (string.IsNullOrEmpty(body))
            {
                return None;
            }

            try
            {
                using var document = JsonDocument.Parse(body);
                if (!document.RootElement.TryGetProperty("error", out var error) || error.ValueKind != JsonValueKind.Object)
                {
                    return None;
                }

                var status = Text(error, "status");
                var message = Text(error, "message");
                string? errorCode = null;
                var namesToken = message?.Contains("registration token", StringComparison.OrdinalIgnoreCase) == true;
                if (error.TryGetProperty("details", out var details) && details.ValueKind == JsonValueKind.Array)
                {
                    foreach (var detail in details.EnumerateArray())
                    {
                        if (detail.ValueKind != JsonValueKind.Object)
                        {
                            continue;
                        }

                        if (Text(detail, "@type") == FcmErrorType)
                        {
                            errorCode ??= Text(detail, "errorCode");
                        }

                        namesToken |= ViolatesToken(detail);
                    }
                }

                return new Error(status, errorCode, namesToken);
            }
            catch (JsonException)
            {
                return None;
            }
        }

        private static bool ViolatesToken(JsonElement detail)
        {
            if (!detail.TryGetProperty("fieldViolations", out var violations) || violations.ValueKind != JsonValueKind.Array)
            {
                return false;
            }

            foreach (var violation in violations.EnumerateArray())
            {
                if (violation.ValueKind == JsonValueKind.Object && Text(violation, "field") == "message.token")
                {
                    return true;
                }
            }

            return false;
        }

        private static string? Text(JsonElement element, string name) =>
            element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;
    }
}
