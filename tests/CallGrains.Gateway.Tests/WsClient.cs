using System.Collections.Concurrent;
using System.Net.WebSockets;
using System.Runtime.ExceptionServices;
using System.Text.Json;
using CallGrains.Client;
using CallGrains.Client.Protocol;

namespace CallGrains.Gateway.Tests;

/// <summary>A device for tests: the SDK's <see cref="ProtocolConnection"/>, with a log, waits that assert, and the welcome taken.</summary>
public sealed partial class WsClient : IAsyncDisposable
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(15);

    private readonly ProtocolConnection _connection;
    private readonly ConcurrentDictionary<string, long> _seqBefore = new();
    private readonly ConcurrentDictionary<string, (string Op, DateTime At)> _sent = new();
    private int _nextId;

    private WsClient(ProtocolConnection connection, string uid)
    {
        _connection = connection;
        Uid = uid;
    }

    public string Uid { get; }

    public JsonElement Welcome { get; private set; }

    public WebSocketCloseStatus? CloseStatus => _connection.CloseStatus;

    public Task Closed => _connection.Completion;

    /// <summary>When the socket was seen to close (by either side), or null while it is open.</summary>
    public DateTime? ClosedAt => _connection.ClosedAt?.UtcDateTime;

    /// <summary>Every message this socket received, in arrival order: welcome, events, responses and the rest.</summary>
    public IReadOnlyList<Received> Log =>
        [.. _connection.Received.Select(m => new Received(m.ReceivedAt.UtcDateTime, m.Json, m.Op, m.Op is not null && m.Id is { } id && _seqBefore.TryGetValue(id, out var seq) ? seq : null))];

    /// <summary>The requests sent on this socket that no message answered (yet, late or not), with when each was sent.</summary>
    public IReadOnlyList<(string Op, DateTime At)> Unanswered
    {
        get
        {
            var answered = _connection.Received.Where(m => m.Id is not null).Select(m => m.Id!).ToHashSet();
            return [.. _sent.Where(s => !answered.Contains(s.Key)).Select(s => s.Value).OrderBy(s => s.At)];
        }
    }

    public IReadOnlyList<JsonElement> Events => [.. _connection.Received.Where(m => m.Event is not null and not "welcome").Select(m => m.Json)];

    public IReadOnlyList<string> EventNames => [.. Events.Select(e => e.GetProperty("event").GetString()!)];

    public static Task<WsClient> ConnectAsync(Uri server, string uid, string token, string? deviceId = null) =>
        OpenAsync(uid, new ProtocolConnectionOptions { Server = server, Token = token, DeviceId = deviceId });

    /// <summary>
    /// Connects as a browser or a slow device would: an <c>Origin</c> header, the token in the query string instead
    /// of a header, a small TCP receive buffer (so a client that stops reading is soon felt by the server).
    /// </summary>
    public static Task<WsClient> ConnectWithAsync(Uri server, string uid, string token, string? origin = null, bool tokenInQuery = false, int? receiveBufferBytes = null) =>
        OpenAsync(uid, new ProtocolConnectionOptions { Server = server, Token = token, Origin = origin, TokenInQuery = tokenInQuery, ReceiveBufferBytes = receiveBufferBytes });

    /// <summary>Stops taking messages off the socket (after the one being read, if any), as a stalled device would.</summary>
    public void PauseReading() => _connection.PauseReading();

    public void ResumeReading() => _connection.ResumeReading();

    /// <summary>Sends one request and returns its response.</summary>
    public async Task<JsonElement> RequestAsync(string op, object? args = null)
    {
        var request = await SendRequestAsync(op, args).WaitAsync(Wait);
        // A socket that closes first leaves the request unanswered, as a timeout does: callers treat both alike.
        return (await request.Response.WaitAsync(Wait))?.Json ?? throw new TimeoutException($"{Uid}: the socket closed before the response to {op}");
    }

    /// <summary>
    /// Sends one request and returns its response, or null if the socket closes first, cannot send, or no response
    /// comes within <paramref name="timeout"/>: for tests that kill servers under their clients.
    /// </summary>
    public async Task<JsonElement?> TryRequestAsync(string op, object? args, TimeSpan timeout)
    {
        try
        {
            var request = await SendRequestAsync(op, args).WaitAsync(timeout);
            return (await request.Response.WaitAsync(timeout))?.Json;
        }
        catch (Exception ex) when (ex is WebSocketException or InvalidOperationException or ObjectDisposedException or TimeoutException or IOException)
        {
            return null;
        }
    }

    /// <summary>Drops the connection without a close handshake, as a device losing its network does.</summary>
    public void Abort() => _connection.Abort();

    public async Task<JsonElement> CallAsync(string callee, int? timeoutSeconds = 60) =>
        await RequestAsync("initiateCall", new { receiverId = callee, receiverType = "user", callType = "video", timeoutSeconds });

    /// <summary>
    /// Starts <paramref name="count"/> calls to <paramref name="callee"/> one after the other from the given devices of
    /// one user in turn, each cancelled once it rang: what a burst against the initiate quota looks like.
    /// </summary>
    public static async Task RingAndCancelAsync(WsClient[] devices, WsClient callee, int count)
    {
        for (var i = 0; i < count; i++)
        {
            var device = devices[i % devices.Length];
            var call = await device.CallAsync(callee.Uid);
            Assert.True(call.IsOk(), call.ToString());
            Assert.True((await device.RequestAsync("rejectCall", new { sessionId = call.SessionId(), status = "cancelled" })).IsOk());
            await callee.EventAsync((2 * i) + 1, "incomingCallCanceled");
        }
    }

    /// <summary>Sends a frame as it is; returns the response it gets (matched by id when it has one).</summary>
    public async Task<JsonElement> SendRawAsync(string text, string? id = null)
    {
        var response = id is not null
            ? _connection.WaitForAsync(m => m.Id == id)
            : _connection.WaitForAsync(m => m.Event is null && m.Op is null);
        await SendTextAsync(text);
        return (await response.WaitAsync(Wait)).Json;
    }

    public Task SendTextAsync(string text) => _connection.SendTextAsync(text);

    public Task SendBytesAsync(byte[] data, WebSocketMessageType type) => _connection.SendAsync(data, type);

    /// <summary>Waits until the <paramref name="index"/>-th event (0-based) has arrived and returns it.</summary>
    public async Task<JsonElement> EventAsync(int index, string? expectedName = null)
    {
        var deadline = DateTime.UtcNow + Wait;
        while (Events.Count <= index)
        {
            Assert.True(DateTime.UtcNow < deadline, $"{Uid}: waited for event #{index} ({expectedName}); have {string.Join(", ", EventNames)}");
            await Task.Delay(10);
        }

        var evt = Events[index];
        if (expectedName is not null)
        {
            Assert.Equal(expectedName, evt.GetProperty("event").GetString());
        }

        return evt;
    }

    /// <summary>Asserts that no further event arrives within a short while.</summary>
    public async Task NoMoreEventsAsync(int expectedCount)
    {
        await Task.Delay(300);
        Assert.True(Events.Count == expectedCount, $"{Uid}: expected {expectedCount} events, got {string.Join(", ", EventNames)}");
    }

    public async Task<WebSocketCloseStatus?> WaitClosedAsync(TimeSpan? timeout = null)
    {
        await _connection.Completion.WaitAsync(timeout ?? Wait);
        return CloseStatus;
    }

    public ValueTask DisposeAsync() => _connection.DisposeAsync();

    /// <summary>Opens, starts reading and takes the welcome; a refused upgrade throws the socket's own exception, as tests expect.</summary>
    private static async Task<WsClient> OpenAsync(string uid, ProtocolConnectionOptions options)
    {
        options.KeepLog = true;
        ProtocolConnection connection;
        try
        {
            connection = await ProtocolConnection.OpenAsync(options);
        }
        catch (CallGrainsException ex) when (ex.InnerException is WebSocketException inner)
        {
            ExceptionDispatchInfo.Throw(inner);
            throw;
        }

        var client = new WsClient(connection, uid);
        var welcome = connection.WaitForEventAsync("welcome");
        connection.Start();
        try
        {
            client.Welcome = (await welcome.WaitAsync(Wait)).Json;
        }
        catch (CallGrainsException)
        {
            await client.DisposeAsync();
            throw new InvalidOperationException($"closed before welcome ({connection.CloseStatus})");
        }

        return client;
    }

    private async Task<PendingRequest> SendRequestAsync(string op, object? args)
    {
        var request = JsonSerializer.SerializeToNode(args ?? new { })!.AsObject();
        var id = $"r{Interlocked.Increment(ref _nextId)}";
        request["id"] = id;
        _seqBefore[id] = _connection.Received.Max(m => m.Seq) ?? -1;
        _sent[id] = (op, DateTime.UtcNow);
        try
        {
            return await _connection.SendRequestAsync(op, request);
        }
        catch (CallGrainsException ex) when (ex.InnerException is { } inner)
        {
            ExceptionDispatchInfo.Throw(inner);
            throw;
        }
    }
}

/// <summary>
/// One message as a socket received it. For a response to a request sent with <see cref="WsClient.RequestAsync"/>:
/// the op, and the highest seq the socket had received when the request went out.
/// </summary>
public sealed record Received(DateTime At, JsonElement Message, string? Op, long? SeqBefore)
{
    public string? Event => Message.ValueKind == JsonValueKind.Object && Message.TryGetProperty("event", out var e) ? e.GetString() : null;

    public long? Seq => Message.ValueKind == JsonValueKind.Object && Message.TryGetProperty("seq", out var s) && s.TryGetInt64(out var v) ? v : null;

    /// <summary>The call the message carries, if any.</summary>
    public JsonElement? Call => Message.ValueKind == JsonValueKind.Object && Message.TryGetProperty("call", out var c) && c.ValueKind == JsonValueKind.Object ? c : null;
}

public static class Json
{
    public static string Str(this JsonElement e, string name) => e.GetProperty(name).GetString()!;

    public static bool IsOk(this JsonElement response) => response.GetProperty("ok").GetBoolean();

    public static string ErrorCode(this JsonElement response) => response.GetProperty("error").GetProperty("code").GetString()!;

    public static JsonElement Call(this JsonElement e) => e.GetProperty("call");

    public static string SessionId(this JsonElement e) => e.GetProperty("call").GetProperty("sessionId").GetString()!;

    public static string Status(this JsonElement e) => e.GetProperty("call").GetProperty("status").GetString()!;

    public static long Seq(this JsonElement e) => e.GetProperty("seq").GetInt64();

    /// <summary>Asserts a refusal for permission that tells nothing about the call: no <c>call</c> attached (PROTOCOL section 6).</summary>
    public static void AssertDeniedWithoutCall(this JsonElement response)
    {
        Assert.Equal("ERR_PERMISSION_DENIED", response.ErrorCode());
        Assert.False(response.TryGetProperty("call", out _), $"a refusal for permission attached the call: {response}");
    }
}
