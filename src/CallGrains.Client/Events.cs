using System.Text.Json;

namespace CallGrains.Client;

/// <summary>The state of the client's connection.</summary>
public enum ConnectionState
{
    /// <summary>The first connection is being made.</summary>
    Connecting,

    /// <summary>Connected: the server's <c>welcome</c> has arrived and the view is current.</summary>
    Connected,

    /// <summary>The connection dropped; the client is trying again (with back-off).</summary>
    Reconnecting,

    /// <summary>Closed for good: disposed, or the server refused the token (see <see cref="ConnectionStateChangedEventArgs.ErrorCode"/>).</summary>
    Disconnected,
}

/// <summary>A call event: the call as the server sent it (or, after a resync, as the client found it).</summary>
public class CallEventArgs : EventArgs
{
    /// <summary>Creates the arguments of a call event.</summary>
    /// <param name="call">The call.</param>
    /// <param name="seq">The event's seq, or the seq of the snapshot that showed it for a resync.</param>
    /// <param name="isResync">True when the client inferred the event from a snapshot after missing the real one.</param>
    public CallEventArgs(CallInfo call, long seq, bool isResync)
    {
        Call = call;
        Seq = seq;
        IsResync = isResync;
    }

    /// <summary>The call.</summary>
    public CallInfo Call { get; }

    /// <summary>The event's seq (PROTOCOL section 2).</summary>
    public long Seq { get; }

    /// <summary>
    /// True when the client missed the server's event (it was disconnected, or a seq gap was found) and raised this
    /// one from the difference between its view and the server's <c>welcome</c>/<c>sync</c> snapshot.
    /// </summary>
    public bool IsResync { get; }
}

/// <summary>A call stopped ringing on this device.</summary>
/// <param name="call">The call.</param>
/// <param name="seq">The event's seq.</param>
/// <param name="isResync">True when inferred after a reconnect or a seq gap.</param>
/// <param name="reason">Why it stopped ringing.</param>
public sealed class CallCanceledEventArgs(CallInfo call, long seq, bool isResync, CancelReason reason) : CallEventArgs(call, seq, isResync)
{
    /// <summary>Why it stopped ringing.</summary>
    public CancelReason Reason { get; } = reason;
}

/// <summary>Someone joined or left a call this user is in.</summary>
/// <param name="call">The call after the change.</param>
/// <param name="seq">The event's seq.</param>
/// <param name="isResync">True when inferred after a reconnect or a seq gap.</param>
/// <param name="user">Who joined or left.</param>
public sealed class CallUserEventArgs(CallInfo call, long seq, bool isResync, CallUser user) : CallEventArgs(call, seq, isResync)
{
    /// <summary>Who joined or left.</summary>
    public CallUser User { get; } = user;
}

/// <summary>Opaque data (WebRTC offer, answer, ICE candidate) from another participant.</summary>
/// <param name="sessionId">The call it belongs to.</param>
/// <param name="from">The uid that sent it.</param>
/// <param name="data">The JSON object they sent.</param>
public sealed class SignalEventArgs(string sessionId, string from, JsonElement data) : EventArgs
{
    /// <summary>The call it belongs to.</summary>
    public string SessionId { get; } = sessionId;

    /// <summary>The uid that sent it.</summary>
    public string From { get; } = from;

    /// <summary>The JSON object they sent.</summary>
    public JsonElement Data { get; } = data;
}

/// <summary>The connection changed state.</summary>
/// <param name="state">The new state.</param>
/// <param name="errorCode">For Disconnected and Reconnecting, why (an error code or a close reason), if known.</param>
/// <param name="message">A description of why, if known.</param>
public sealed class ConnectionStateChangedEventArgs(ConnectionState state, string? errorCode, string? message) : EventArgs
{
    /// <summary>The new state.</summary>
    public ConnectionState State { get; } = state;

    /// <summary>
    /// Why the connection was lost or closed: an error code (<see cref="ErrorCodes.UserNotLoggedIn"/> for a refused or
    /// revoked token), <c>replaced</c> (a newer connection of the same device), or null for an ordinary drop or a dispose.
    /// </summary>
    public string? ErrorCode { get; } = errorCode;

    /// <summary>A description of why, if known.</summary>
    public string? Message { get; } = message;
}
