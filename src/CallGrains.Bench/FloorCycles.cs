using System.Buffers;
using System.Collections.Concurrent;
using System.Net.WebSockets;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace CallGrains.Bench;

/// <summary>
/// The floor under a ring cycle's server CPU: a bare ASP.NET Core WebSocket server that speaks just enough of the wire
/// protocol for the bench's cycle (welcome; initiateCall, acceptCall, endCall answered; incomingCallReceived,
/// outgoingCallAccepted, callEndedMessageReceived sent to the other party) with the same messages, written with the
/// same JSON writer. No grains, no storage, no history, no checks: one dictionary of sockets and one of calls. What is
/// left is what .NET costs to carry a cycle's nine messages (three in, six out) on this machine at the same rate.
/// With <c>--grains 1</c> the requests go through grains that make a real cycle's Orleans calls and nothing else
/// (<see cref="IFloorSessionGrain"/>), on an in-memory silo in the same process: the floor with Orleans.
/// </summary>
public static class FloorCycles
{
    private const int MaxMessageBytes = 64 * 1024;

    /// <summary>Starts the bare server and measures the cycle on it as <c>bench embedded</c> does on the host.</summary>
    internal static Task<string[]> MeasureAsync(Options options) => MeasureAsync(options, options.Int("grains", 0) == 1);

    /// <summary>The same, without grains or through the no-op grains.</summary>
    internal static async Task<string[]> MeasureAsync(Options options, bool grains)
    {
        var (server, url) = await Floor.StartAsync("floor-cycles-server", options.Int("floor-port", 5191), grains ? ["--grains", "1"] : []);
        using (server)
        {
            try
            {
                var label = grains ? "bare server + a cycle's grain calls, no-op grains (the floor with Orleans)" : "bare ASP.NET Core server, same messages (the floor)";
                return await Suite.MeasureAsync([url], "", options, label, [new Watched("host", server.Id)]);
            }
            finally
            {
                server.Kill(entireProcessTree: true);
                await server.WaitForExitAsync();
            }
        }
    }

    /// <summary>The bare server, in a process of its own: <c>floor-cycles-server --port P [--grains 1]</c>.</summary>
    internal static async Task<int> ServeAsync(int port, bool grains)
    {
        await using var app = Build(port, grains, siloPort: port + 6020, gatewayPort: port + 25020);
        await app.RunAsync();
        return 0;
    }

    /// <summary>The bare server on 127.0.0.1:<paramref name="port"/>; with <paramref name="grains"/>, and a silo of its own on the other two ports.</summary>
    public static WebApplication Build(int port, bool grains, int siloPort, int gatewayPort)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
        builder.Services.AddSingleton<FloorDevices>();
        if (grains)
        {
            builder.UseOrleans(silo => silo.UseLocalhostClustering(siloPort, gatewayPort));
        }

        var app = builder.Build();
        var factory = grains ? app.Services.GetRequiredService<IGrainFactory>() : null;
        var devices = app.Services.GetRequiredService<FloorDevices>();
        app.UseWebSockets();
        var peers = new ConcurrentDictionary<string, Peer>(StringComparer.Ordinal);
        var calls = new ConcurrentDictionary<string, FloorCall>(StringComparer.Ordinal);
        app.MapGet("/healthz", () => "Healthy");

        // The bench's admin calls: any user exists, and its token is its uid.
        app.MapPost("/v1/users", () => Results.StatusCode(StatusCodes.Status201Created));
        app.MapPost("/v1/users/{uid}/tokens", (string uid) => Results.Json(new { authToken = uid }));
        app.Map("/v1/ws", async (HttpContext http) =>
        {
            var auth = http.Request.Headers.Authorization.ToString();
            if (!http.WebSockets.IsWebSocketRequest || !auth.StartsWith("Bearer ", StringComparison.Ordinal))
            {
                http.Response.StatusCode = StatusCodes.Status401Unauthorized;
                return;
            }

            using var socket = await http.WebSockets.AcceptWebSocketAsync(new WebSocketAcceptContext
            {
                KeepAliveInterval = TimeSpan.FromSeconds(10),
                KeepAliveTimeout = TimeSpan.FromSeconds(30),
            });
            using var peer = new Peer(auth["Bearer ".Length..], socket);
            peers[peer.Uid] = peer;
            Func<string, long, FloorCall, Task> send = peer.SendEventAsync;
            devices.ByUser[peer.Uid] = send;
            try
            {
                await peer.SendAsync(Json(w =>
                {
                    w.WriteStartObject();
                    w.WriteString("event", "welcome");
                    w.WriteString("uid", peer.Uid);
                    w.WriteString("deviceId", Guid.NewGuid().ToString("N"));
                    w.WriteNumber("seq", 0);
                    w.WriteNull("activeCall");
                    w.WriteStartArray("ringing");
                    w.WriteEndArray();
                    w.WriteEndObject();
                }));
                var buffer = new ArrayBufferWriter<byte>(4096);
                while (await ReceiveAsync(socket, buffer))
                {
                    await (factory is null ? HandleAsync(peer, Read(buffer.WrittenSpan), peers, calls) : HandleThroughGrainsAsync(peer, Read(buffer.WrittenSpan), factory));
                }
            }
            catch (WebSocketException)
            {
                // The bench went away.
            }
            finally
            {
                peers.TryRemove(new KeyValuePair<string, Peer>(peer.Uid, peer));
                devices.ByUser.TryRemove(new KeyValuePair<string, Func<string, long, FloorCall, Task>>(peer.Uid, send));
            }
        });
        return app;
    }

    /// <summary>Reads one whole text message into <paramref name="buffer"/>; false once the socket closes.</summary>
    private static async Task<bool> ReceiveAsync(WebSocket socket, ArrayBufferWriter<byte> buffer)
    {
        buffer.ResetWrittenCount();
        while (true)
        {
            var frame = await socket.ReceiveAsync(buffer.GetMemory(4096), CancellationToken.None);
            if (frame.MessageType == WebSocketMessageType.Close || buffer.WrittenCount + frame.Count > MaxMessageBytes)
            {
                return false;
            }

            buffer.Advance(frame.Count);
            if (frame.EndOfMessage)
            {
                return true;
            }
        }
    }

    private static async Task HandleAsync(Peer peer, (string? Id, string? Op, string? ReceiverId, string? SessionId) request, ConcurrentDictionary<string, Peer> peers, ConcurrentDictionary<string, FloorCall> calls)
    {
        var (_, op, receiverId, sessionId) = request;
        var now = Now();
        FloorCall? call = null;
        string? other = null, otherEvent = null;
        switch (op)
        {
            case "initiateCall" when receiverId is not null:
                call = new FloorCall(Guid.NewGuid().ToString("N"), peer.Uid, receiverId, "initiated", now, null, null);
                calls[call.SessionId] = call;
                (other, otherEvent) = (receiverId, "incomingCallReceived");
                break;
            case "acceptCall" when sessionId is not null && calls.TryGetValue(sessionId, out var ringing):
                calls[sessionId] = call = ringing with { Status = "ongoing", JoinedAt = now };
                (other, otherEvent) = (call.Caller, "outgoingCallAccepted");
                break;
            case "endCall" when sessionId is not null && calls.TryRemove(sessionId, out var ongoing):
                call = ongoing with { Status = "ended", EndedAt = now };
                (other, otherEvent) = (call.Caller == peer.Uid ? call.Callee : call.Caller, "callEndedMessageReceived");
                break;
        }

        await peer.RespondAsync(request, call);
        if (other is not null && peers.GetValueOrDefault(other) is { } to)
        {
            await to.SendEventAsync(otherEvent!, Interlocked.Increment(ref to.Seq), call!);
        }
    }

    /// <summary>The same request through the floor grains: the session grain calls the users, whose updates send the events.</summary>
    private static async Task HandleThroughGrainsAsync(Peer peer, (string? Id, string? Op, string? ReceiverId, string? SessionId) request, IGrainFactory grains)
    {
        var (_, op, receiverId, sessionId) = request;
        var call = op switch
        {
            "initiateCall" when receiverId is not null => await grains.GetGrain<IFloorSessionGrain>(Guid.NewGuid().ToString("N")).Initiate(peer.Uid, receiverId, Now()),
            "acceptCall" when sessionId is not null => await grains.GetGrain<IFloorSessionGrain>(sessionId).Accept(peer.Uid, Now()),
            "endCall" when sessionId is not null => await grains.GetGrain<IFloorSessionGrain>(sessionId).Hangup(peer.Uid, Now()),
            _ => null,
        };
        await peer.RespondAsync(request, call);
    }

    private static double Now() => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / 1000.0;

    /// <summary>The request's id, op, receiverId and sessionId (the fields the cycle uses), with one reader pass.</summary>
    private static (string? Id, string? Op, string? ReceiverId, string? SessionId) Read(ReadOnlySpan<byte> message)
    {
        string? id = null, op = null, receiverId = null, sessionId = null;
        try
        {
            var reader = new Utf8JsonReader(message);
            reader.Read();
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var name = reader.GetString();
                reader.Read();
                var value = reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
                reader.Skip();
                _ = name switch
                {
                    "id" => id = value,
                    "op" => op = value,
                    "receiverId" => receiverId = value,
                    "sessionId" => sessionId = value,
                    _ => null,
                };
            }
        }
        catch (JsonException)
        {
            // Answered as a bad request below.
        }

        return (id, op, receiverId, sessionId);
    }

    private static byte[] Json(Action<Utf8JsonWriter> write)
    {
        var buffer = new ArrayBufferWriter<byte>(1024);
        using (var w = new Utf8JsonWriter(buffer))
        {
            write(w);
        }

        return buffer.WrittenSpan.ToArray();
    }

    private sealed class Peer(string uid, WebSocket socket) : IDisposable
    {
        private readonly SemaphoreSlim _sending = new(1, 1);

        public string Uid { get; } = uid;

        /// <summary>The user's seq (direct mode; through grains the user grain numbers the events).</summary>
        public int Seq;

        public Task RespondAsync((string? Id, string? Op, string? ReceiverId, string? SessionId) request, FloorCall? call) => SendAsync(Json(w =>
        {
            w.WriteStartObject();
            w.WriteString("id", request.Id);
            w.WriteBoolean("ok", call is not null);
            w.WriteNumber("seq", Seq);
            if (call is null)
            {
                w.WriteStartObject("error");
                w.WriteString("code", "ERR_BAD_REQUEST");
                w.WriteString("message", $"{request.Op} is not served by the floor server");
                w.WriteEndObject();
            }
            else
            {
                w.WritePropertyName("call");
                WriteCall(w, call);
            }

            w.WriteEndObject();
        }));

        public Task SendEventAsync(string evt, long seq, FloorCall call) => SendAsync(Json(w =>
        {
            w.WriteStartObject();
            w.WriteString("event", evt);
            w.WriteNumber("seq", seq);
            w.WritePropertyName("call");
            WriteCall(w, call);
            w.WriteEndObject();
        }));

        public async Task SendAsync(byte[] message)
        {
            await _sending.WaitAsync();
            try
            {
                await socket.SendAsync(message, WebSocketMessageType.Text, endOfMessage: true, CancellationToken.None);
            }
            catch (WebSocketException)
            {
                // The bench went away; its reader ends the connection.
            }
            finally
            {
                _sending.Release();
            }
        }

        public void Dispose() => _sending.Dispose();
    }

    /// <summary>The call as the real gateway writes it (Wire.WriteCall), field for field.</summary>
    private static void WriteCall(Utf8JsonWriter w, FloorCall call)
    {
        w.WriteStartObject();
        w.WriteString("sessionId", call.SessionId);
        w.WriteString("callType", "audio");
        w.WriteString("receiverType", "user");
        w.WriteString("receiverId", call.Callee);
        w.WriteStartObject("initiator");
        w.WriteString("uid", call.Caller);
        w.WriteString("name", call.Caller);
        w.WriteEndObject();
        w.WriteString("status", call.Status);
        w.WriteNumber("initiatedAt", call.InitiatedAt);
        Time(w, "joinedAt", call.JoinedAt);
        Time(w, "endedAt", call.EndedAt);
        Time(w, "duration", call.EndedAt - call.JoinedAt);
        w.WriteStartArray("participants");
        foreach (var uid in call.JoinedAt is null ? [] : new[] { call.Caller, call.Callee })
        {
            w.WriteStartObject();
            w.WriteString("uid", uid);
            w.WriteNumber("joinedAt", call.JoinedAt!.Value);
            Time(w, "leftAt", call.EndedAt);
            w.WriteEndObject();
        }

        w.WriteEndArray();
        w.WriteStartObject("metadata");
        w.WriteEndObject();
        w.WriteNumber("timeoutSeconds", 45);
        w.WriteEndObject();
    }

    private static void Time(Utf8JsonWriter w, string name, double? value)
    {
        if (value is { } v)
        {
            w.WriteNumber(name, Math.Round(v, 3));
        }
        else
        {
            w.WriteNull(name);
        }
    }
}
