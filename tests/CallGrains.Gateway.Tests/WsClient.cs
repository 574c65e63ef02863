using System.Collections.Concurrent;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using System.Threading.Channels;

namespace CallGrains.Gateway.Tests;

/// <summary>A device: one real WebSocket to a gateway, speaking PROTOCOL sections 2, 4 and 5.</summary>
public sealed partial class WsClient : IAsyncDisposable
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(15);

    private readonly ClientWebSocket _socket;
    private readonly ConcurrentDictionary<string, TaskCompletionSource<JsonElement>> _pending = new();
    private readonly Channel<JsonElement> _anonymous = Channel.CreateUnbounded<JsonElement>();
    private readonly List<JsonElement> _events = [];
    private readonly TaskCompletionSource<JsonElement> _welcome = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly ConcurrentDictionary<string, (string Op, long SeqBefore)> _sent = new();
    private readonly List<Received> _log = [];
    private readonly Task _reader;
    private long _highestSeq = -1;
    private volatile TaskCompletionSource _reading = Reading();
    private int _nextId;

    private WsClient(ClientWebSocket socket, string uid)
    {
        _socket = socket;
        Uid = uid;
        _reader = Task.Run(ReadAsync);
    }

    public string Uid { get; }

    public JsonElement Welcome { get; private set; }

    public WebSocketCloseStatus? CloseStatus { get; private set; }

    public Task Closed => _reader;

    /// <summary>When the socket was seen to close (by either side), or null while it is open.</summary>
    public DateTime? ClosedAt { get; private set; }

    /// <summary>Every message this socket received, in arrival order: welcome, events, responses and the rest.</summary>
    public IReadOnlyList<Received> Log
    {
        get
        {
            lock (_log)
            {
                return [.. _log];
            }
        }
    }

    public IReadOnlyList<JsonElement> Events
    {
        get
        {
            lock (_events)
            {
                return [.. _events];
            }
        }
    }

    public IReadOnlyList<string> EventNames => [.. Events.Select(e => e.GetProperty("event").GetString()!)];

    public static async Task<WsClient> ConnectAsync(Uri server, string uid, string token, string? deviceId = null)
    {
        var socket = new ClientWebSocket();
        socket.Options.SetRequestHeader("Authorization", $"Bearer {token}");
        var uri = new Uri($"ws://{server.Host}:{server.Port}/v1/ws{(deviceId is null ? "" : $"?deviceId={deviceId}")}");
        await socket.ConnectAsync(uri, CancellationToken.None);
        var client = new WsClient(socket, uid);
        client.Welcome = await client._welcome.Task.WaitAsync(Wait);
        return client;
    }

    /// <summary>
    /// Connects as a browser or a slow device would: an <c>Origin</c> header, the token in the query string instead
    /// of a header, a small TCP receive buffer (so a client that stops reading is soon felt by the server).
    /// </summary>
    public static async Task<WsClient> ConnectWithAsync(Uri server, string uid, string token, string? origin = null, bool tokenInQuery = false, int? receiveBufferBytes = null)
    {
        var socket = new ClientWebSocket();
        if (origin is not null)
        {
            socket.Options.SetRequestHeader("Origin", origin);
        }

        if (!tokenInQuery)
        {
            socket.Options.SetRequestHeader("Authorization", $"Bearer {token}");
        }

        var handler = new System.Net.Http.SocketsHttpHandler
        {
            ConnectCallback = async (context, cancellation) =>
            {
                var tcp = new System.Net.Sockets.Socket(System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp) { NoDelay = true };
                if (receiveBufferBytes is { } bytes)
                {
                    tcp.ReceiveBufferSize = bytes;
                }

                await tcp.ConnectAsync(context.DnsEndPoint, cancellation);
                return new System.Net.Sockets.NetworkStream(tcp, ownsSocket: true);
            },
        };
        var uri = new Uri($"ws://{server.Host}:{server.Port}/v1/ws{(tokenInQuery ? $"?token={Uri.EscapeDataString(token)}" : "")}");
        await socket.ConnectAsync(uri, new System.Net.Http.HttpMessageInvoker(handler), CancellationToken.None);
        var client = new WsClient(socket, uid);
        client.Welcome = await client._welcome.Task.WaitAsync(Wait);
        return client;
    }

    /// <summary>Stops taking messages off the socket (after the one being read, if any), as a stalled device would.</summary>
    public void PauseReading() => _reading = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

    public void ResumeReading() => _reading.TrySetResult();

    /// <summary>Sends one request and returns its response.</summary>
    public async Task<JsonElement> RequestAsync(string op, object? args = null)
    {
        var (text, pending) = Prepare(op, args);
        await SendTextAsync(text);
        return await pending.Task.WaitAsync(Wait);
    }

    /// <summary>
    /// Sends one request and returns its response, or null if the socket closes first, cannot send, or no response
    /// comes within <paramref name="timeout"/>: for tests that kill servers under their clients.
    /// </summary>
    public async Task<JsonElement?> TryRequestAsync(string op, object? args, TimeSpan timeout)
    {
        var (text, pending) = Prepare(op, args);
        try
        {
            await SendTextAsync(text).WaitAsync(timeout);
        }
        catch (Exception ex) when (ex is WebSocketException or InvalidOperationException or ObjectDisposedException or TimeoutException or IOException)
        {
            return null;
        }

        await Task.WhenAny(pending.Task, _reader, Task.Delay(timeout));
        return pending.Task.IsCompletedSuccessfully ? await pending.Task : null;
    }

    /// <summary>Drops the connection without a close handshake, as a device losing its network does.</summary>
    public void Abort() => _socket.Abort();

    private (string Text, TaskCompletionSource<JsonElement> Pending) Prepare(string op, object? args)
    {
        var id = $"r{Interlocked.Increment(ref _nextId)}";
        var request = JsonSerializer.SerializeToNode(args ?? new { })!.AsObject();
        request["id"] = id;
        request["op"] = op;
        lock (_log)
        {
            _sent[id] = (op, _highestSeq);
        }

        return (request.ToJsonString(), _pending[id] = new TaskCompletionSource<JsonElement>(TaskCreationOptions.RunContinuationsAsynchronously));
    }

    public async Task<JsonElement> CallAsync(string callee, int? timeoutSeconds = 60) =>
        await RequestAsync("initiateCall", new { receiverId = callee, receiverType = "user", callType = "video", timeoutSeconds });

    /// <summary>Sends a frame as it is; returns the response it gets (matched by id when it has one).</summary>
    public async Task<JsonElement> SendRawAsync(string text, string? id = null)
    {
        TaskCompletionSource<JsonElement>? pending = null;
        if (id is not null)
        {
            pending = _pending[id] = new TaskCompletionSource<JsonElement>(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        await SendTextAsync(text);
        return pending is not null
            ? await pending.Task.WaitAsync(Wait)
            : await _anonymous.Reader.ReadAsync().AsTask().WaitAsync(Wait);
    }

    public Task SendTextAsync(string text) => SendBytesAsync(Encoding.UTF8.GetBytes(text), WebSocketMessageType.Text);

    public async Task SendBytesAsync(byte[] data, WebSocketMessageType type)
    {
        await _socket.SendAsync(data, type, endOfMessage: true, CancellationToken.None);
    }

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
        await _reader.WaitAsync(timeout ?? Wait);
        return CloseStatus;
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (_socket.State == WebSocketState.Open)
            {
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(2));
                await _socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "bye", cts.Token);
            }
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException)
        {
        }

        _socket.Abort();
        await _reader.WaitAsync(TimeSpan.FromSeconds(5)).ContinueWith(_ => { }, TaskScheduler.Default);
        _socket.Dispose();
    }

    private static TaskCompletionSource Reading()
    {
        var reading = new TaskCompletionSource();
        reading.SetResult();
        return reading;
    }

    private async Task ReadAsync()
    {
        var buffer = new byte[256 * 1024];
        try
        {
            while (_socket.State == WebSocketState.Open)
            {
                await _reading.Task;
                var length = 0;
                WebSocketReceiveResult result;
                do
                {
                    result = await _socket.ReceiveAsync(buffer.AsMemory(length).ToArraySegment(), CancellationToken.None);
                    length += result.Count;
                }
                while (!result.EndOfMessage);

                if (result.MessageType == WebSocketMessageType.Close)
                {
                    CloseStatus = result.CloseStatus;
                    return;
                }

                using var doc = JsonDocument.Parse(buffer.AsMemory(0, length));
                var message = doc.RootElement.Clone();
                Record(message);
                if (message.TryGetProperty("event", out var name))
                {
                    if (name.GetString() == "welcome")
                    {
                        _welcome.TrySetResult(message);
                        continue;
                    }

                    lock (_events)
                    {
                        _events.Add(message);
                    }
                }
                else if (message.TryGetProperty("id", out var id) && id.ValueKind == JsonValueKind.String && _pending.TryRemove(id.GetString()!, out var pending))
                {
                    pending.TrySetResult(message);
                }
                else
                {
                    _anonymous.Writer.TryWrite(message);
                }
            }
        }
        catch (WebSocketException)
        {
            CloseStatus ??= _socket.CloseStatus;
        }
        finally
        {
            CloseStatus ??= _socket.CloseStatus;
            ClosedAt = DateTime.UtcNow;
            _welcome.TrySetException(new InvalidOperationException($"closed before welcome ({CloseStatus})"));
        }
    }

    private void Record(JsonElement message)
    {
        string? op = null;
        long? seqBefore = null;
        if (message.TryGetProperty("id", out var id) && id.ValueKind == JsonValueKind.String && _sent.TryRemove(id.GetString()!, out var sent))
        {
            (op, seqBefore) = (sent.Op, sent.SeqBefore);
        }

        var received = new Received(DateTime.UtcNow, message, op, seqBefore);
        lock (_log)
        {
            _log.Add(received);
            _highestSeq = Math.Max(_highestSeq, received.Seq ?? _highestSeq);
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

internal static class MemoryExtensions
{
    public static ArraySegment<byte> ToArraySegment(this Memory<byte> memory) =>
        System.Runtime.InteropServices.MemoryMarshal.TryGetArray<byte>(memory, out var segment) ? segment : throw new InvalidOperationException();
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
}
