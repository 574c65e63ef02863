using System.Globalization;
using System.Text.Json;

namespace CallGrains.Client.Internal;

/// <summary>The JSON of PROTOCOL section 3 read into the SDK's own model, and the wire names of its enums.</summary>
internal static class WireFormat
{
    // One table per enum, read both ways: a name is written in one place on this side of the wire (WireNamesTests
    // round-trips every value through the server's table and this one).
    private static readonly NameTable<CallType> CallTypes = new((CallType.Audio, "audio"), (CallType.Video, "video"));

    private static readonly NameTable<ReceiverType> ReceiverTypes = new((ReceiverType.User, "user"), (ReceiverType.Group, "group"));

    private static readonly NameTable<CallDirection> Directions = new((CallDirection.Incoming, "incoming"), (CallDirection.Outgoing, "outgoing"));

    private static readonly NameTable<PushPlatform> PushPlatforms = new(
        (PushPlatform.ApnsVoip, "apns-voip"),
        (PushPlatform.Apns, "apns"),
        (PushPlatform.Fcm, "fcm"));

    private static readonly NameTable<CallStatus> Statuses = new(
        (CallStatus.Initiated, "initiated"),
        (CallStatus.Ongoing, "ongoing"),
        (CallStatus.Unanswered, "unanswered"),
        (CallStatus.Rejected, "rejected"),
        (CallStatus.Busy, "busy"),
        (CallStatus.Cancelled, "cancelled"),
        (CallStatus.Ended, "ended"));

    private static readonly NameTable<CancelReason> Reasons = new(
        (CancelReason.Cancelled, "cancelled"),
        (CancelReason.Unanswered, "unanswered"),
        (CancelReason.AnsweredElsewhere, "answeredElsewhere"),
        (CancelReason.RejectedElsewhere, "rejectedElsewhere"));

    private static readonly NameTable<MemberStatus> MemberStatuses = new(
        (MemberStatus.Ringing, "ringing"),
        (MemberStatus.Busy, "busy"),
        (MemberStatus.Rejected, "rejected"),
        (MemberStatus.Unanswered, "unanswered"),
        (MemberStatus.Joined, "joined"));

    private static readonly NameTable<WebhookDeliveryStatus> DeliveryStatuses = new(
        (WebhookDeliveryStatus.Pending, "pending"),
        (WebhookDeliveryStatus.Delivered, "delivered"),
        (WebhookDeliveryStatus.Failed, "failed"));

    public static string Name(this CallType type) => CallTypes.Name(type);

    public static string Name(this ReceiverType type) => ReceiverTypes.Name(type);

    public static string Name(this CallDirection direction) => Directions.Name(direction);

    public static string Name(this CallStatus status) => Statuses.Name(status);

    public static string Name(this PushPlatform platform) => PushPlatforms.Name(platform);

    public static PushPlatform ParsePlatform(string? name) =>
        PushPlatforms.TryParse(name, out var platform) ? platform : throw new JsonException($"unknown push platform '{name}'");

    /// <summary>One entry of <c>{"pushTokens":[...]}</c> or a registration's answer.</summary>
    public static PushTokenEntry ParsePushToken(JsonElement e) => new(
        Str(e, "deviceId"),
        ParsePlatform(Str(e, "platform")),
        OptionalStr(e, "token"),
        OptionalStr(e, "tokenHash"),
        Time(e.GetProperty("registeredAt")));

    public static IReadOnlyList<PushTokenEntry> ParsePushTokens(JsonElement e) =>
        [.. e.GetProperty("pushTokens").EnumerateArray().Select(ParsePushToken)];

    public static TurnCredentials ParseTurnCredentials(JsonElement e) => new(
        [.. e.GetProperty("iceServers").EnumerateArray().Select(ParseIceServer)],
        TimeSpan.FromSeconds(OptionalLong(e, "ttl") ?? 0));

    // WebRTC allows "urls" to be one string or a list; the server sends a list.
    private static IceServer ParseIceServer(JsonElement e) => new(
        e.GetProperty("urls") is { ValueKind: JsonValueKind.String } one ? [one.GetString()!] : [.. e.GetProperty("urls").EnumerateArray().Select(u => u.GetString()!)],
        OptionalStr(e, "username"),
        OptionalStr(e, "credential"));

    public static string Name(this WebhookDeliveryStatus status) => DeliveryStatuses.Name(status);

    public static WebhookDeliveryStatus ParseDeliveryStatus(string? name) =>
        DeliveryStatuses.TryParse(name, out var status) ? status : throw new JsonException($"unknown delivery status '{name}'");

    /// <summary>One endpoint of <c>{"webhooks":[...]}</c>, a read, or a creation's answer (the only one with <c>secret</c>).</summary>
    public static WebhookEndpoint ParseWebhook(JsonElement e) => new(
        Str(e, "id"),
        Str(e, "url"),
        [.. e.GetProperty("events").EnumerateArray().Select(t => t.GetString()!)],
        OptionalStr(e, "secret"),
        Time(e.GetProperty("createdAt")),
        e.TryGetProperty("disabled", out var d) && d.ValueKind == JsonValueKind.Object ? Time(d.GetProperty("at")) : null,
        e.TryGetProperty("disabled", out var r) && r.ValueKind == JsonValueKind.Object ? OptionalStr(r, "reason") : null);

    public static IReadOnlyList<WebhookEndpoint> ParseWebhooks(JsonElement e) =>
        [.. e.GetProperty("webhooks").EnumerateArray().Select(ParseWebhook)];

    public static IReadOnlyList<WebhookDelivery> ParseDeliveries(JsonElement e) =>
        [.. e.GetProperty("deliveries").EnumerateArray().Select(d => new WebhookDelivery(
            Str(d, "webhookId"),
            Str(d, "type"),
            Str(d, "sessionId"),
            Time(d.GetProperty("createdAt")),
            ParseDeliveryStatus(Str(d, "status")),
            OptionalTime(d, "nextAttemptAt"),
            [.. d.GetProperty("attempts").EnumerateArray().Select(a => new WebhookAttempt(
                Time(a.GetProperty("at")),
                a.TryGetProperty("statusCode", out var code) && code.ValueKind == JsonValueKind.Number ? code.GetInt32() : null,
                OptionalStr(a, "error"),
                a.GetProperty("latencyMs").GetDouble()))]))];

    public static string Name(this CancelReason reason) => Reasons.TryName(reason) ?? "unknown";

    public static CallStatus ParseStatus(string? name) =>
        Statuses.TryParse(name, out var status) ? status : throw new JsonException($"unknown call status '{name}'");

    // A reason this version does not know is kept as Unknown: a newer server may add one.
    public static CancelReason ParseReason(string? name) => Reasons.TryParse(name, out var reason) ? reason : CancelReason.Unknown;

    private static MemberStatus ParseMemberStatus(string? name) =>
        MemberStatuses.TryParse(name, out var status) ? status : throw new JsonException($"unknown member status '{name}'");

    // Lenient as before: anything but the other name reads as the default.
    private static CallType ParseCallType(string? name) => CallTypes.TryParse(name, out var type) ? type : CallType.Audio;

    private static ReceiverType ParseReceiverType(string? name) => ReceiverTypes.TryParse(name, out var type) ? type : ReceiverType.User;

    private static CallDirection ParseDirection(string? name) => Directions.TryParse(name, out var direction) ? direction : CallDirection.Incoming;

    public static CallInfo ParseCall(JsonElement e) => new()
    {
        SessionId = Str(e, "sessionId"),
        CallType = ParseCallType(Str(e, "callType")),
        ReceiverType = ParseReceiverType(Str(e, "receiverType")),
        ReceiverId = Str(e, "receiverId"),
        Initiator = ParseUser(e.GetProperty("initiator")),
        Status = ParseStatus(Str(e, "status")),
        InitiatedAt = Time(e.GetProperty("initiatedAt")),
        JoinedAt = OptionalTime(e, "joinedAt"),
        EndedAt = OptionalTime(e, "endedAt"),
        Duration = e.TryGetProperty("duration", out var d) && d.ValueKind == JsonValueKind.Number ? TimeSpan.FromSeconds(d.GetDouble()) : null,
        Participants = e.TryGetProperty("participants", out var ps) && ps.ValueKind == JsonValueKind.Array
            ? [.. ps.EnumerateArray().Select(p => new CallParticipant(Str(p, "uid"), Time(p.GetProperty("joinedAt")), OptionalTime(p, "leftAt")))]
            : [],
        Members = e.TryGetProperty("members", out var ms) && ms.ValueKind == JsonValueKind.Array
            ? [.. ms.EnumerateArray().Select(m => new CallMember(Str(m, "uid"), Str(m, "name"), ParseMemberStatus(Str(m, "status"))))]
            : [],
        Metadata = e.TryGetProperty("metadata", out var md) ? md.Clone() : JsonOptions.EmptyObject,
        TimeoutSeconds = e.TryGetProperty("timeoutSeconds", out var t) && t.ValueKind == JsonValueKind.Number ? t.GetInt32() : null,
    };

    public static CallInfo? OptionalCall(JsonElement e, string name) =>
        e.TryGetProperty(name, out var c) && c.ValueKind == JsonValueKind.Object ? ParseCall(c) : null;

    public static IReadOnlyList<CallInfo> Calls(JsonElement e, string name) =>
        e.TryGetProperty(name, out var a) && a.ValueKind == JsonValueKind.Array ? [.. a.EnumerateArray().Select(ParseCall)] : [];

    public static CallUser ParseUser(JsonElement e) => new(Str(e, "uid"), e.TryGetProperty("name", out var n) && n.ValueKind == JsonValueKind.String ? n.GetString()! : Str(e, "uid"));

    public static CallLogPage ParseLogPage(JsonElement e) => new(
        [.. e.GetProperty("calls").EnumerateArray().Select(c => new CallLogEntry(
            ParseCall(c),
            ParseDirection(Str(c, "direction")),
            c.TryGetProperty("missed", out var m) && m.ValueKind == JsonValueKind.True))],
        e.TryGetProperty("next", out var next) && next.ValueKind == JsonValueKind.String ? next.GetString() : null);

    /// <summary>The query string of <c>GET /v1/calls</c>; only the parameters set (the server refuses empty ones).</summary>
    public static string LogQueryString(CallLogQuery query)
    {
        var parts = new List<string>();
        void Add(string name, string? value)
        {
            if (value is not null)
            {
                parts.Add($"{name}={Uri.EscapeDataString(value)}");
            }
        }

        Add("limit", query.Limit?.ToString(CultureInfo.InvariantCulture));
        Add("cursor", query.Cursor);
        Add("status", query.Status?.Name());
        Add("callType", query.CallType?.Name());
        Add("direction", query.Direction?.Name());
        Add("receiverType", query.ReceiverType?.Name());
        Add("missed", query.Missed is { } missed ? (missed ? "true" : "false") : null);
        return parts.Count == 0 ? "" : "?" + string.Join('&', parts);
    }

    /// <summary>The <c>{"error":{"code","message"}}</c> of a response or REST body, if there is one.</summary>
    public static (string Code, string Message)? Error(JsonElement e) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty("error", out var error) && error.ValueKind == JsonValueKind.Object
            ? (OptionalStr(error, "code") ?? ErrorCodes.Internal, OptionalStr(error, "message") ?? "")
            : null;

    public static string Str(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString()! : throw new JsonException($"'{name}' is missing or not a string");

    public static string? OptionalStr(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    public static long? OptionalLong(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetInt64(out var n) ? n : null;

    public static DateTimeOffset UnixSeconds(long seconds) => DateTimeOffset.FromUnixTimeSeconds(seconds);

    private static DateTimeOffset Time(JsonElement e) => DateTimeOffset.FromUnixTimeMilliseconds((long)Math.Round(e.GetDouble() * 1000));

    private static DateTimeOffset? OptionalTime(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number ? Time(v) : null;

    private sealed class NameTable<T>
        where T : struct, Enum
    {
        private readonly Dictionary<T, string> _names = [];
        private readonly Dictionary<string, T> _values = new(StringComparer.Ordinal);

        public NameTable(params (T Value, string Name)[] pairs)
        {
            foreach (var (value, name) in pairs)
            {
                _names.Add(value, name);
                _values.Add(name, value);
            }
        }

        public string Name(T value) => _names[value];

        public string? TryName(T value) => _names.GetValueOrDefault(value);

        public bool TryParse(string? name, out T value) => _values.TryGetValue(name ?? "", out value);
    }
}
