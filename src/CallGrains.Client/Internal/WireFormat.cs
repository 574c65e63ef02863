using System.Globalization;
using System.Text.Json;

namespace CallGrains.Client.Internal;

/// <summary>The JSON of PROTOCOL section 3 read into the SDK's own model, and the wire names of its enums.</summary>
internal static class WireFormat
{
    public static string Name(this CallType type) => type == CallType.Video ? "video" : "audio";

    public static string Name(this ReceiverType type) => type == ReceiverType.Group ? "group" : "user";

    public static string Name(this CallDirection direction) => direction == CallDirection.Outgoing ? "outgoing" : "incoming";

    public static string Name(this CallStatus status) => status switch
    {
        CallStatus.Initiated => "initiated",
        CallStatus.Ongoing => "ongoing",
        CallStatus.Unanswered => "unanswered",
        CallStatus.Rejected => "rejected",
        CallStatus.Busy => "busy",
        CallStatus.Cancelled => "cancelled",
        _ => "ended",
    };

    public static string Name(this CancelReason reason) => reason switch
    {
        CancelReason.Cancelled => "cancelled",
        CancelReason.Unanswered => "unanswered",
        CancelReason.AnsweredElsewhere => "answeredElsewhere",
        CancelReason.RejectedElsewhere => "rejectedElsewhere",
        _ => "unknown",
    };

    public static CallStatus ParseStatus(string? name) => name switch
    {
        "initiated" => CallStatus.Initiated,
        "ongoing" => CallStatus.Ongoing,
        "unanswered" => CallStatus.Unanswered,
        "rejected" => CallStatus.Rejected,
        "busy" => CallStatus.Busy,
        "cancelled" => CallStatus.Cancelled,
        "ended" => CallStatus.Ended,
        _ => throw new JsonException($"unknown call status '{name}'"),
    };

    public static CancelReason ParseReason(string? name) => name switch
    {
        "cancelled" => CancelReason.Cancelled,
        "unanswered" => CancelReason.Unanswered,
        "answeredElsewhere" => CancelReason.AnsweredElsewhere,
        "rejectedElsewhere" => CancelReason.RejectedElsewhere,
        _ => CancelReason.Unknown,
    };

    private static MemberStatus ParseMemberStatus(string? name) => name switch
    {
        "ringing" => MemberStatus.Ringing,
        "busy" => MemberStatus.Busy,
        "rejected" => MemberStatus.Rejected,
        "unanswered" => MemberStatus.Unanswered,
        "joined" => MemberStatus.Joined,
        _ => throw new JsonException($"unknown member status '{name}'"),
    };

    public static CallInfo ParseCall(JsonElement e) => new()
    {
        SessionId = Str(e, "sessionId"),
        CallType = Str(e, "callType") == "video" ? CallType.Video : CallType.Audio,
        ReceiverType = Str(e, "receiverType") == "group" ? ReceiverType.Group : ReceiverType.User,
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
            Str(c, "direction") == "outgoing" ? CallDirection.Outgoing : CallDirection.Incoming,
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
}
