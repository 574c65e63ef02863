using System.IO.Pipelines;
using System.Net.WebSockets;
using CallGrains.Gateway.Auth;

namespace CallGrains.Gateway.Sockets;

/// <summary>The endpoint's side of the direct upgrade (<see cref="DirectUpgrade"/>): the same checks, admission and serving, over a connection's own transport.</summary>
internal sealed partial class WebSocketEndpoint
{
    /// <summary>
    /// The direct upgrade's part (<see cref="DirectUpgrade"/>): the checks that need no grain, with nothing written.
    /// Null when any refuses or the caller's rate budget is spent: the request then goes the ASP.NET Core way, which
    /// answers exactly as it always has.
    /// </summary>
    internal (AuthClaims Claims, string DeviceId)? CheckDirect(UpgradeHead head)
    {
        var request = new UpgradeRequest(head.Origin, Tokens.RequestToken(head.Authorization, head.Protocols, head.QueryToken), head.DeviceId, IsWebSocket: true);
        return Check(request) is null && rateLimit.TryTake(request.Claims!.Value) ? (request.Claims.Value, request.Device!) : null;
    }

    /// <summary>
    /// Registers the device and upgrades the connection over its own transport, the upgrade's head already taken;
    /// the socket and its serving, or no socket once a refusal from the user grain or the cluster has been written
    /// as the ASP.NET Core path writes it. Kestrel's <c>ConnectionClosed</c> is not used: it would make a token
    /// source and a registration that stay with every idle socket, and a send to a peer that is gone fails anyway.
    /// </summary>
    internal async Task<(Task Serving, WebSocket? Socket)> OpenDirectAsync(AuthClaims claims, string deviceId, UpgradeHead head, IDuplexPipe transport)
    {
        if (await AdmitAsync(claims, deviceId, (status, code, message) => DirectUpgrade.WriteErrorAsync(transport.Output, status, code, message)) is not { } admitted)
        {
            return (Task.CompletedTask, null);
        }

        WebSocket socket;
        try
        {
            var subProtocol = head.Offers(Tokens.SubProtocol) ? Tokens.SubProtocol : null;
            await DirectUpgrade.WriteSwitchAsync(transport.Output, head.Key, subProtocol);
            socket = WebSocket.CreateFromStream(new PipeStream(transport), new WebSocketCreationOptions
            {
                IsServer = true,
                SubProtocol = subProtocol,
                KeepAliveInterval = TimeSpan.FromSeconds(_options.PingIntervalSeconds),
                KeepAliveTimeout = TimeSpan.FromSeconds(_options.IdleTimeoutSeconds),
            });
        }
        catch (Exception ex)
        {
            await UpgradeFailedAsync(ex, admitted);
            return (Task.CompletedTask, null);
        }

        return (Serve(admitted, socket, CancellationToken.None), socket);
    }
}
