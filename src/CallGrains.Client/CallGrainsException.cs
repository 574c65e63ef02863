namespace CallGrains.Client;

/// <summary>
/// Every failure the SDK reports: the server's error code (PROTOCOL section 7, e.g. <c>ERR_CALL_BUSY</c>) and, where
/// the server attached one, the call. Failures found on this side carry the client codes of <see cref="ErrorCodes"/>
/// (<see cref="ErrorCodes.NotConnected"/>, <see cref="ErrorCodes.Timeout"/>). A request cancelled through its
/// <see cref="CancellationToken"/> throws <see cref="OperationCanceledException"/> instead.
/// </summary>
public sealed class CallGrainsException : Exception
{
    /// <summary>Creates an exception for <paramref name="code"/>.</summary>
    /// <param name="code">The error code, as the server spells it.</param>
    /// <param name="message">What went wrong.</param>
    /// <param name="call">The call the failed request created or touched, if the server attached one.</param>
    /// <param name="httpStatus">The HTTP status of a failed REST request or refused connection, if any.</param>
    /// <param name="innerException">What caused a failure found on this side.</param>
    public CallGrainsException(string code, string message, CallInfo? call = null, int? httpStatus = null, Exception? innerException = null)
        : base($"{code}: {message}", innerException)
    {
        Code = code;
        ServerMessage = message;
        Call = call;
        HttpStatus = httpStatus;
    }

    /// <summary>Creates an exception with <see cref="ErrorCodes.Internal"/>.</summary>
    public CallGrainsException()
        : this(ErrorCodes.Internal, "unknown error")
    {
    }

    /// <summary>Creates an exception with <see cref="ErrorCodes.Internal"/> and <paramref name="message"/>.</summary>
    /// <param name="message">What went wrong.</param>
    public CallGrainsException(string message)
        : this(ErrorCodes.Internal, message)
    {
    }

    /// <summary>Creates an exception with <see cref="ErrorCodes.Internal"/>, <paramref name="message"/> and a cause.</summary>
    /// <param name="message">What went wrong.</param>
    /// <param name="innerException">The cause.</param>
    public CallGrainsException(string message, Exception innerException)
        : this(ErrorCodes.Internal, message, innerException: innerException)
    {
    }

    /// <summary>The error code: one of <see cref="ErrorCodes"/>.</summary>
    public string Code { get; }

    /// <summary>The message as the server (or this client) wrote it, without the code.</summary>
    public string ServerMessage { get; }

    /// <summary>The call the failed request created or touched (e.g. the <c>busy</c> call of <c>ERR_CALL_BUSY</c>), or null.</summary>
    public CallInfo? Call { get; }

    /// <summary>The HTTP status, for a failed REST request or a connection refused before the WebSocket upgrade.</summary>
    public int? HttpStatus { get; }
}

/// <summary>The error codes of PROTOCOL section 7, and the two this client adds for failures found on its side.</summary>
public static class ErrorCodes
{
    /// <summary>No such call (or it has expired from history).</summary>
    public const string CallNotFound = "ERR_CALL_NOT_FOUND";

    /// <summary>The caller already has an outgoing call ringing.</summary>
    public const string CallAlreadyInitiated = "ERR_CALL_ALREADY_INITIATED";

    /// <summary>The call was already answered or joined.</summary>
    public const string CallAlreadyJoined = "ERR_CALL_ALREADY_JOINED";

    /// <summary>The callee is on another call (the failed request carries the <c>busy</c> call); for a group, the group's live call.</summary>
    public const string CallBusy = "ERR_CALL_BUSY";

    /// <summary>The call was cancelled.</summary>
    public const string CallCancelled = "ERR_CALL_CANCELLED";

    /// <summary>The call was rejected.</summary>
    public const string CallRejected = "ERR_CALL_REJECTED";

    /// <summary>The call has ended.</summary>
    public const string CallEnded = "ERR_CALL_ENDED";

    /// <summary>The session id is malformed.</summary>
    public const string InvalidSessionId = "ERR_INVALID_SESSION_ID";

    /// <summary>The auth token is missing, unknown, expired or revoked.</summary>
    public const string UserNotLoggedIn = "ERR_USER_NOT_LOGGED_IN";

    /// <summary>A user cannot call themselves.</summary>
    public const string CallingSelf = "ERR_CALLING_SELF";

    /// <summary>The caller is in another call (spelled with ERROR_ on the wire).</summary>
    public const string CallInProgress = "ERROR_CALL_IN_PROGRESS";

    /// <summary>Nobody answered before the ring timeout.</summary>
    public const string CallUnanswered = "ERR_CALL_UNANSWERED";

    /// <summary>No such user.</summary>
    public const string UidNotFound = "ERR_UID_NOT_FOUND";

    /// <summary>No such group.</summary>
    public const string GuidNotFound = "ERR_GUID_NOT_FOUND";

    /// <summary>This user may not do that to this call.</summary>
    public const string PermissionDenied = "ERR_PERMISSION_DENIED";

    /// <summary>The request was malformed.</summary>
    public const string BadRequest = "ERR_BAD_REQUEST";

    /// <summary>Rate limited: slow down.</summary>
    public const string TooManyRequests = "ERR_TOO_MANY_REQUESTS";

    /// <summary>The server failed; try again.</summary>
    public const string Internal = "ERR_INTERNAL";

    /// <summary>
    /// Client side: the socket is not open (the client is reconnecting or disposed), or it closed before the response
    /// came. A request that was sent may or may not have been carried out: the view after reconnecting tells.
    /// </summary>
    public const string NotConnected = "ERR_NOT_CONNECTED";

    /// <summary>Client side: no response within <see cref="CallGrainsClientOptions.RequestTimeout"/>.</summary>
    public const string Timeout = "ERR_TIMEOUT";
}
