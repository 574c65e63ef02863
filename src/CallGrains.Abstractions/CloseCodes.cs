using System.Net.WebSockets;

namespace CallGrains.Abstractions;

/// <summary>The WebSocket close codes the server sends, with their PROTOCOL meaning ("Close codes the server uses").</summary>
public static class CloseCodes
{
    /// <summary>1000: a normal close.</summary>
    public const WebSocketCloseStatus Normal = WebSocketCloseStatus.NormalClosure;

    /// <summary>1003: the client sent a binary message.</summary>
    public const WebSocketCloseStatus BinaryMessage = WebSocketCloseStatus.InvalidMessageType;

    /// <summary>1008: the client stopped reading and its send queue overflowed.</summary>
    public const WebSocketCloseStatus TooFarBehind = WebSocketCloseStatus.PolicyViolation;

    /// <summary>1009: a message over <c>Gateway:MaxMessageBytes</c>.</summary>
    public const WebSocketCloseStatus MessageTooBig = WebSocketCloseStatus.MessageTooBig;

    /// <summary>1012: the gateway is stopping; reconnect to any gateway and sync.</summary>
    public const WebSocketCloseStatus ServiceRestart = (WebSocketCloseStatus)1012;

    /// <summary>4000: a newer connection with the same deviceId replaced this one.</summary>
    public const WebSocketCloseStatus Replaced = (WebSocketCloseStatus)4000;

    /// <summary>4001: the user's tokens were revoked, or the socket's auth token expired.</summary>
    public const WebSocketCloseStatus Revoked = (WebSocketCloseStatus)4001;
}
