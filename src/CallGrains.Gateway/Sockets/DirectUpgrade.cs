using System.Globalization;
using System.IO.Pipelines;
using System.Net.WebSockets;
using System.Security.Cryptography;
using System.Text;
using CallGrains.Abstractions;
using CallGrains.Gateway.Protocol;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace CallGrains.Gateway.Sockets;

/// <summary>
/// <c>Gateway:DirectUpgrade</c> (on by default): a WebSocket upgrade to <c>/v1/ws</c> is taken at the connection,
/// before Kestrel's HTTP/1.1 layer, and the socket runs over the connection's own transport. Through ASP.NET Core,
/// Kestrel keeps the HTTP connection's objects (request and response headers, pipes, the upgrade's body stream, the
/// request's activity and log scopes) for the socket's whole life: an idle socket costs 15.1 KiB that way and 8.3 KiB
/// this way (docs/benchmarks.md, "Issue 22, session 24"). The direct path reads the request head itself, strictly (<see cref="UpgradeHead"/>), and runs
/// the endpoint's own checks; whenever the head is unusual or a check refuses, every byte is left to Kestrel and the
/// request is answered by the ASP.NET Core endpoint exactly as without this path (the same status, body and rate
/// limit). A connection whose first request is anything else goes to Kestrel after one look at its first bytes.
/// </summary>
internal sealed class DirectUpgrade(WebSocketEndpoint endpoint, IOptions<GatewayOptions> options, IOptions<KestrelServerOptions> kestrel)
{
    // Kestrel counts upgrades against MaxConcurrentUpgradedConnections only on its own path: with that limit set,
    // every upgrade goes there, so the limit holds.
    private readonly bool _enabled = options.Value.DirectUpgrade && kestrel.Value.Limits.MaxConcurrentUpgradedConnections is null;

    /// <summary>
    /// How long a connection may take to send an upgrade's head before the direct path gives it to Kestrel, whose
    /// own header timeout then applies (so a slow client is still cut off).
    /// </summary>
    internal static readonly TimeSpan HeadTimeout = TimeSpan.FromSeconds(10);

    private const string AcceptGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

    public Task HandleAsync(ConnectionContext connection, ConnectionDelegate next) => _enabled ? TakeAsync(connection, next) : next(connection);

    private async Task TakeAsync(ConnectionContext connection, ConnectionDelegate next)
    {
        if (await OpenAsync(connection) is not { } opened)
        {
            await next(connection);
            return;
        }

        await opened.Serving;
        if (opened.Socket?.State == WebSocketState.Aborted)
        {
            // The socket gave up on its peer (no pong, no answer to a close, a send that would not go): drop the
            // connection rather than let Kestrel wait for that peer to take what is unsent. Otherwise Kestrel closes
            // it after sending what is queued, the close frame among it.
            connection.Abort();
        }
    }

    /// <summary>
    /// Takes the connection's upgrade if it is one for the direct path: the socket and its serving (no socket after a
    /// refusal written here), or null when every byte is left to Kestrel. Separate from the serving so that the head
    /// and the admission are not kept while the socket idles.
    /// </summary>
    private async Task<(Task Serving, WebSocket? Socket)?> OpenAsync(ConnectionContext connection)
    {
        var input = connection.Transport.Input;

        // Only what needs no grain is checked before the head is taken: a refusal here leaves it to Kestrel.
        if (await ReadHeadAsync(input) is not { } found || endpoint.CheckDirect(found.Head) is not { } admitted)
        {
            return null;
        }

        var taken = await input.ReadAsync();
        input.AdvanceTo(taken.Buffer.GetPosition(found.Length));
        return await endpoint.OpenDirectAsync(admitted.Claims, admitted.DeviceId, found.Head, connection.Transport);
    }

    /// <summary>Waits for the first request's head; leaves every byte unread for Kestrel either way.</summary>
    private static async Task<(UpgradeHead Head, int Length)?> ReadHeadAsync(PipeReader input)
    {
        using var limit = new CancellationTokenSource(HeadTimeout);
        try
        {
            while (true)
            {
                var result = await input.ReadAsync(limit.Token);
                var reading = UpgradeHead.TryRead(result.Buffer, out var head, out var length);
                if (reading == UpgradeHead.Reading.NeedMore && !result.IsCompleted && !result.IsCanceled)
                {
                    input.AdvanceTo(result.Buffer.Start, result.Buffer.End);
                    continue;
                }

                input.AdvanceTo(result.Buffer.Start);
                return reading == UpgradeHead.Reading.Parsed ? (head!, length) : null;
            }
        }
        catch (OperationCanceledException)
        {
            return null;
        }
    }

    /// <summary>The 101 answer (RFC 6455 section 4.2.2).</summary>
    internal static async Task WriteSwitchAsync(PipeWriter output, string key, string? subProtocol)
    {
        var response = new StringBuilder("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n")
            .Append("Sec-WebSocket-Accept: ").Append(AcceptKey(key)).Append("\r\n");
        if (subProtocol is not null)
        {
            response.Append("Sec-WebSocket-Protocol: ").Append(subProtocol).Append("\r\n");
        }

        await output.WriteAsync(Encoding.ASCII.GetBytes(response.Append("\r\n").ToString()));
    }

    /// <summary>A refusal after the user grain was asked: the same status and JSON body as the ASP.NET Core path; the connection then closes.</summary>
    internal static async Task WriteErrorAsync(PipeWriter output, int status, CallErrorCode code, string message)
    {
        var body = Wire.ErrorBody(code, message);
        var head = string.Create(CultureInfo.InvariantCulture,
            $"HTTP/1.1 {status} {ReasonPhrases.GetReasonPhrase(status)}\r\nContent-Type: application/json\r\nContent-Length: {body.Length}\r\nConnection: close\r\n");
        await output.WriteAsync(Encoding.ASCII.GetBytes(head + "\r\n"));
        await output.WriteAsync(body);
    }

    // RFC 6455 fixes SHA-1 for the accept key; it is not used for security.
#pragma warning disable CA5350
    internal static string AcceptKey(string key) => Convert.ToBase64String(SHA1.HashData(Encoding.ASCII.GetBytes(key + AcceptGuid)));
#pragma warning restore CA5350
}

public static class DirectUpgradeHosting
{
    /// <summary>Puts the direct upgrade in front of every endpoint Kestrel listens on (<see cref="DirectUpgrade"/>).</summary>
    public static void UseDirectUpgrade(this KestrelServerOptions kestrel) =>
        kestrel.ConfigureEndpointDefaults(listen => listen.Use(next =>
        {
            var direct = listen.ApplicationServices.GetRequiredService<DirectUpgrade>();
            return connection => direct.HandleAsync(connection, next);
        }));
}
