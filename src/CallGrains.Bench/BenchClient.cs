using System.Collections.Concurrent;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;

namespace CallGrains.Bench;

/// <summary>A lean protocol client: one socket, responses matched by id, events handed to whoever waits for them.</summary>
public sealed class BenchClient : IAsyncDisposable
{
    private readonly ClientWebSocket _socket = new();
    private readonly ConcurrentDictionary<string, TaskCompletionSource<Message>> _pending = new();
    private readonly ConcurrentDictionary<string, TaskCompletionSource<Message>> _waiters = new();
    private readonly SemaphoreSlim _sendLock = new(1, 1);
    private Task? _reader;
    private long _nextId;

    public string Uid { get; }

    private BenchClient(string uid) => Uid = uid;

    public static async Task<BenchClient> ConnectAsync(Uri server, string uid, string token, bool readEvents = true)
    {
        var client = new BenchClient(uid);
        client._socket.Options.SetRequestHeader("Authorization", $"Bearer {token}");
        client._socket.Options.KeepAliveInterval = TimeSpan.FromSeconds(20);
        var ws = new UriBuilder(server) { Scheme = server.Scheme == "https" ? "wss" : "ws", Path = "/v1/ws" }.Uri;
        await client._socket.ConnectAsync(ws, CancellationToken.None);
        if (readEvents)
        {
            client._reader = Task.Run(client.ReadAsync);
        }

        return client;
    }

    /// <summary>Registers interest in the next event of <paramref name="name"/> for the session <paramref name="sessionKey"/> ("*": any).</summary>
    public Task<Message> Expect(string name, string sessionKey)
    {
        var tcs = new TaskCompletionSource<Message>(TaskCreationOptions.RunContinuationsAsynchronously);
        _waiters[$"{name}|{sessionKey}"] = tcs;
        return tcs.Task;
    }

    public async Task<Message> RequestAsync(string op, string argsJson)
    {
        var id = Interlocked.Increment(ref _nextId).ToString(System.Globalization.CultureInfo.InvariantCulture);
        var tcs = new TaskCompletionSource<Message>(TaskCreationOptions.RunContinuationsAsynchronously);
        _pending[id] = tcs;
        var frame = Encoding.UTF8.GetBytes($"{{\"id\":\"{id}\",\"op\":\"{op}\"{(argsJson.Length > 0 ? "," + argsJson : "")}}}");
        await _sendLock.WaitAsync();
        try
        {
            await _socket.SendAsync(frame, WebSocketMessageType.Text, true, CancellationToken.None);
        }
        finally
        {
            _sendLock.Release();
        }

        return await tcs.Task;
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(2));
            await _socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "bye", cts.Token);
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException or ObjectDisposedException)
        {
        }

        _socket.Abort();
        if (_reader is not null)
        {
            await _reader.ContinueWith(_ => { }, TaskScheduler.Default);
        }

        _socket.Dispose();
        _sendLock.Dispose();
    }

    private async Task ReadAsync()
    {
        var buffer = new byte[64 * 1024];
        try
        {
            while (_socket.State == WebSocketState.Open)
            {
                var length = 0;
                ValueWebSocketReceiveResult result;
                do
                {
                    result = await _socket.ReceiveAsync(buffer.AsMemory(length), CancellationToken.None);
                    length += result.Count;
                }
                while (!result.EndOfMessage);

                if (result.MessageType == WebSocketMessageType.Close)
                {
                    break;
                }

                var message = Message.Parse(buffer.AsSpan(0, length), System.Diagnostics.Stopwatch.GetTimestamp());
                if (message.Event is { } name)
                {
                    if ((message.SessionId is not null && _waiters.TryRemove($"{name}|{message.SessionId}", out var waiter)) || _waiters.TryRemove($"{name}|*", out waiter))
                    {
                        waiter.TrySetResult(message);
                    }
                }
                else if (message.Id is { } id && _pending.TryRemove(id, out var pending))
                {
                    pending.TrySetResult(message);
                }
            }
        }
        catch (Exception ex) when (ex is WebSocketException or ObjectDisposedException or JsonException)
        {
        }

        foreach (var p in _pending.Values)
        {
            p.TrySetException(new IOException($"{Uid}: socket closed"));
        }

        foreach (var w in _waiters.Values)
        {
            w.TrySetException(new IOException($"{Uid}: socket closed"));
        }
    }
}

/// <summary>What the bench needs of a server message, read without building a document.</summary>
public readonly record struct Message(string? Event, string? Id, bool Ok, string? SessionId, string? ErrorCode, long Ticks)
{
    public static Message Parse(ReadOnlySpan<byte> json, long ticks)
    {
        // Property names are compared in place (no string per name): a ring of 100 is 100 messages of a few KiB each,
        // read on the same cores as the server being measured.
        var reader = new Utf8JsonReader(json);
        string? evt = null, id = null, sessionId = null, error = null;
        var ok = false;
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
                    evt = reader.GetString();
                    break;
                case JsonTokenType.String when depth == 1 && property == Field.Id:
                    id = reader.GetString();
                    break;
                case JsonTokenType.True when depth == 1 && property == Field.Ok:
                    ok = true;
                    break;
                case JsonTokenType.String when depth == 2 && parent == Field.Call && property == Field.SessionId:
                    sessionId = reader.GetString();
                    break;
                case JsonTokenType.String when depth == 2 && parent == Field.Error && property == Field.Code:
                    error = reader.GetString();
                    break;
            }
        }

        return new Message(evt, id, ok, sessionId, error, ticks);
    }

    private enum Field
    {
        Other,
        Event,
        Id,
        Ok,
        Call,
        SessionId,
        Error,
        Code,
    }

    private static Field NameOf(ref Utf8JsonReader reader) =>
        reader.ValueTextEquals("event"u8) ? Field.Event
        : reader.ValueTextEquals("id"u8) ? Field.Id
        : reader.ValueTextEquals("ok"u8) ? Field.Ok
        : reader.ValueTextEquals("call"u8) ? Field.Call
        : reader.ValueTextEquals("sessionId"u8) ? Field.SessionId
        : reader.ValueTextEquals("error"u8) ? Field.Error
        : reader.ValueTextEquals("code"u8) ? Field.Code
        : Field.Other;
}
