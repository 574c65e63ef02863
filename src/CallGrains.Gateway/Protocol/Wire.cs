using System.Buffers;
using System.Collections.Immutable;
using System.Runtime.CompilerServices;
using System.Text.Json;
using CallGrains.Abstractions;

namespace CallGrains.Gateway.Protocol;

/// <summary>The JSON of PROTOCOL sections 2, 3 and 5, written straight to UTF-8.</summary>
public static class Wire
{
    // A thread's writer and buffer are kept for its next message unless the buffer grew past this (a large log page).
    private const int MaxKeptBuffer = 64 * 1024;

    // The JSON of a group call by instance: ringing 100 members sends the same call object, with its 100-entry member
    // list, in 100 events, and it is written once. Entries go with their call objects.
    private static readonly ConditionalWeakTable<CallInfo, byte[]> GroupCallJson = [];

    [ThreadStatic]
    private static ArrayBufferWriter<byte>? _threadBuffer;

    [ThreadStatic]
    private static Utf8JsonWriter? _threadWriter;

    public static double UnixSeconds(DateTimeOffset at) => Math.Round(at.ToUnixTimeMilliseconds() / 1000.0, 3);

    /// <summary>A call object of PROTOCOL section 3; <paramref name="more"/> adds properties (a log entry's direction and missed).</summary>
    public static void WriteCall(Utf8JsonWriter w, CallInfo call, Action<Utf8JsonWriter>? more = null)
    {
        if (more is null && call.IsGroup)
        {
            w.WriteRawValue(GroupCallJson.GetValue(call, static c => Write(x => WriteCallObject(x, c, null))), skipInputValidation: true);
        }
        else
        {
            WriteCallObject(w, call, more);
        }
    }

    /// <summary>
    /// The call object of a push too big for its provider (APNs 4-5 KB, FCM 4 KB): section 3's fields with empty
    /// <c>participants</c> and <c>metadata</c>, no <c>members</c>, and <c>"truncated":true</c>.
    /// </summary>
    public static void WriteCompactCall(Utf8JsonWriter w, CallInfo call) => WriteCallObject(w, call, null, compact: true);

    private static void WriteCallObject(Utf8JsonWriter w, CallInfo call, Action<Utf8JsonWriter>? more, bool compact = false)
    {
        w.WriteStartObject();
        w.WriteString("sessionId", call.SessionId);
        w.WriteString("callType", call.CallType.Name());
        w.WriteString("receiverType", call.ReceiverType.Name());
        w.WriteString("receiverId", call.ReceiverId);
        w.WriteStartObject("initiator");
        w.WriteString("uid", call.Initiator.Uid);
        w.WriteString("name", call.Initiator.Name);
        w.WriteEndObject();
        w.WriteString("status", call.Status.Name());
        w.WriteNumber("initiatedAt", UnixSeconds(call.InitiatedAt));
        WriteTime(w, "joinedAt", call.JoinedAt);
        WriteTime(w, "endedAt", call.EndedAt);
        if (call.Duration is { } duration)
        {
            w.WriteNumber("duration", Math.Round(duration, 3));
        }
        else
        {
            w.WriteNull("duration");
        }

        w.WriteStartArray("participants");
        foreach (var p in compact ? ImmutableArray<Participant>.Empty : call.Participants)
        {
            w.WriteStartObject();
            w.WriteString("uid", p.Uid);
            w.WriteNumber("joinedAt", UnixSeconds(p.JoinedAt));
            WriteTime(w, "leftAt", p.LeftAt);
            w.WriteEndObject();
        }

        w.WriteEndArray();
        if (call.IsGroup && !compact)
        {
            // An extension of PROTOCOL section 3 for group calls: how each member rung (or joining) answered.
            w.WriteStartArray("members");
            foreach (var m in call.Members)
            {
                w.WriteStartObject();
                w.WriteString("uid", m.Uid);
                w.WriteString("name", m.Name);
                w.WriteString("status", m.Status.Name());
                w.WriteEndObject();
            }

            w.WriteEndArray();
        }

        w.WritePropertyName("metadata");
        if (!compact && call.Metadata is { } metadata)
        {
            w.WriteRawValue(metadata, skipInputValidation: true);
        }
        else
        {
            w.WriteStartObject();
            w.WriteEndObject();
        }

        w.WriteNumber("timeoutSeconds", call.TimeoutSeconds);
        if (compact)
        {
            w.WriteBoolean("truncated", true);
        }

        more?.Invoke(w);
        w.WriteEndObject();
    }

    public static void WriteCallOrNull(Utf8JsonWriter w, string name, CallInfo? call)
    {
        w.WritePropertyName(name);
        if (call is null)
        {
            w.WriteNullValue();
        }
        else
        {
            WriteCall(w, call);
        }
    }

    public static void WriteCalls(Utf8JsonWriter w, string name, IEnumerable<CallInfo> calls)
    {
        w.WriteStartArray(name);
        foreach (var call in calls)
        {
            WriteCall(w, call);
        }

        w.WriteEndArray();
    }

    public static byte[] Event(CallEvent evt)
    {
        if (evt.Call is not { IsGroup: true } group)
        {
            return Write(w => WriteEvent(w, evt, null));
        }

        // A group call's JSON (its member list makes it most of the event) is copied once, into the event's own array:
        // the rest is written with a one-byte stand-in at the call's place, which is then swapped for the call.
        var call = GroupCallJson.GetValue(group, static c => Write(x => WriteCallObject(x, c, null)));
        var at = -1;
        var rest = Write(w => WriteEvent(w, evt, x =>
        {
            x.Flush();
            at = (int)x.BytesCommitted;
            x.WriteRawValue("0"u8, skipInputValidation: true);
        }));
        var bytes = new byte[rest.Length - 1 + call.Length];
        rest.AsSpan(0, at).CopyTo(bytes);
        call.CopyTo(bytes.AsSpan(at));
        rest.AsSpan(at + 1).CopyTo(bytes.AsSpan(at + call.Length));
        return bytes;
    }

    private static void WriteEvent(Utf8JsonWriter w, CallEvent evt, Action<Utf8JsonWriter>? writeGroupCall)
    {
        w.WriteStartObject();
        w.WriteString("event", evt.Type.Name());
        w.WriteNumber("seq", evt.Seq);
        if (writeGroupCall is null)
        {
            WriteCallOrNull(w, "call", evt.Call);
        }
        else
        {
            w.WritePropertyName("call");
            writeGroupCall(w);
        }

        if (evt.Reason is { } reason)
        {
            w.WriteString("reason", reason.Name());
        }

        if (evt.User is { } user)
        {
            w.WriteStartObject("user");
            w.WriteString("uid", user.Uid);
            w.WriteString("name", user.Name);
            w.WriteEndObject();
        }

        if (evt.From is { } from)
        {
            w.WriteString("from", from);
        }

        if (evt.Data is { } data)
        {
            w.WritePropertyName("data");
            w.WriteRawValue(data, skipInputValidation: true);
        }

        w.WriteEndObject();
    }

    public static byte[] Welcome(string deviceId, UserSnapshot snapshot) => Write(w =>
    {
        w.WriteStartObject();
        w.WriteString("event", "welcome");
        w.WriteString("uid", snapshot.Uid);
        w.WriteString("deviceId", deviceId);
        w.WriteNumber("seq", snapshot.Seq);
        WriteCallOrNull(w, "activeCall", snapshot.ActiveCall);
        WriteCalls(w, "ringing", snapshot.Ringing);
        w.WriteEndObject();
    });

    /// <summary>A successful response: <c>{"id","ok":true,...,"seq"}</c>, with the result fields written by <paramref name="result"/>.</summary>
    public static byte[] Ok(string? id, long seq, Action<Utf8JsonWriter>? result = null) => Write(w =>
    {
        w.WriteStartObject();
        WriteId(w, id);
        w.WriteBoolean("ok", true);
        result?.Invoke(w);
        w.WriteNumber("seq", seq);
        w.WriteEndObject();
    });

    public static byte[] Error(string? id, long seq, CallErrorCode code, string message, CallInfo? call = null) => Write(w =>
    {
        w.WriteStartObject();
        WriteId(w, id);
        w.WriteBoolean("ok", false);
        WriteErrorObject(w, code, message);
        if (call is not null)
        {
            w.WritePropertyName("call");
            WriteCall(w, call);
        }

        w.WriteNumber("seq", seq);
        w.WriteEndObject();
    });

    /// <summary>The REST error body: <c>{"error":{"code","message"}}</c>.</summary>
    public static byte[] ErrorBody(CallErrorCode code, string message) => Write(w =>
    {
        w.WriteStartObject();
        WriteErrorObject(w, code, message);
        w.WriteEndObject();
    });

    public static byte[] Write(Action<Utf8JsonWriter> write)
    {
        // Taken from the thread while in use, so a Write nested in another (a group call's cached JSON) gets its own.
        var buffer = _threadBuffer ?? new ArrayBufferWriter<byte>(4096);
        var writer = _threadWriter ?? new Utf8JsonWriter(buffer);
        _threadBuffer = null;
        _threadWriter = null;
        writer.Reset(buffer);
        try
        {
            write(writer);
            writer.Flush();
            return buffer.WrittenSpan.ToArray();
        }
        finally
        {
            if (buffer.Capacity <= MaxKeptBuffer)
            {
                buffer.ResetWrittenCount();
                _threadBuffer = buffer;
                _threadWriter = writer;
            }
        }
    }

    private static void WriteErrorObject(Utf8JsonWriter w, CallErrorCode code, string message)
    {
        w.WriteStartObject("error");
        w.WriteString("code", code.Name());
        w.WriteString("message", message);
        w.WriteEndObject();
    }

    private static void WriteId(Utf8JsonWriter w, string? id)
    {
        if (id is null)
        {
            w.WriteNull("id");
        }
        else
        {
            w.WriteString("id", id);
        }
    }

    private static void WriteTime(Utf8JsonWriter w, string name, DateTimeOffset? at)
    {
        if (at is { } value)
        {
            w.WriteNumber(name, UnixSeconds(value));
        }
        else
        {
            w.WriteNull(name);
        }
    }
}
