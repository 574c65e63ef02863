using System.Globalization;
using CallGrains.Client;

namespace CallGrains.Cli;

/// <summary>What the softphone prints: one line per event or result, <c>key=value</c> pairs a script can split on spaces.</summary>
internal static class Lines
{
    public static string Call(CallInfo call) => string.Join(' ', CallFields(call));

    public static string Event(string name, CallEventArgs e, params string[] more) =>
        string.Join(' ', new[] { "event", name }.Concat(CallFields(e.Call)).Concat(more).Concat(e.IsResync ? ["resync=true"] : []));

    public static string Error(CallGrainsException ex) => $"error {ex.Code} {OneLine(ex.ServerMessage)}";

    public static string LogEntry(CallLogEntry entry)
    {
        var call = entry.Call;
        var peer = entry.Direction == CallDirection.Outgoing ? call.ReceiverId : call.Initiator.Uid;
        return string.Join(' ', new[]
        {
            "log",
            $"session={call.SessionId}",
            $"direction={Lower(entry.Direction)}",
            $"status={Lower(call.Status)}",
            $"type={Lower(call.CallType)}",
            $"peer={peer}",
            $"missed={(entry.Missed ? "true" : "false")}",
            $"at={call.InitiatedAt.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture)}",
        }.Concat(call.Duration is { } d ? [$"duration={Seconds(d)}"] : []));
    }

    /// <summary>A push token as <c>device=... platform=... token=... registeredAt=...</c>.</summary>
    public static string PushToken(PushTokenEntry entry) =>
        $"device={entry.DeviceId} platform={PlatformNames[entry.Platform]} token={entry.Token ?? entry.TokenHash} registeredAt={entry.RegisteredAt.ToUnixTimeSeconds()}";

    /// <summary>The platform a command names by its wire name, or null.</summary>
    public static PushPlatform? Platform(string name) => PlatformNames.FirstOrDefault(p => p.Value == name) is { Value: not null } found ? found.Key : null;

    // The CLI writes and reads platforms as the wire does (the SDK keeps its own table internal).
    private static readonly Dictionary<PushPlatform, string> PlatformNames = new()
    {
        [PushPlatform.ApnsVoip] = "apns-voip",
        [PushPlatform.Apns] = "apns",
        [PushPlatform.Fcm] = "fcm",
    };

    public static string Lower<T>(T value)
        where T : struct, Enum
    {
        var name = value.ToString();
        return char.ToLowerInvariant(name[0]) + name[1..];
    }

    public static string OneLine(string text) => text.ReplaceLineEndings(" ");

    private static IEnumerable<string> CallFields(CallInfo call)
    {
        yield return $"session={call.SessionId}";
        yield return $"from={call.Initiator.Uid}";
        yield return $"to={call.ReceiverId}";
        if (call.IsGroup)
        {
            yield return "receiver=group";
        }

        yield return $"type={Lower(call.CallType)}";
        yield return $"status={Lower(call.Status)}";
        if (call.Duration is { } duration)
        {
            yield return $"duration={Seconds(duration)}";
        }
    }

    private static string Seconds(TimeSpan duration) => duration.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture);
}
