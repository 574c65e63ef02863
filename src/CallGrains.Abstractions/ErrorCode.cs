using System.Collections.Frozen;

namespace CallGrains.Abstractions;

/// <summary>The error codes of PROTOCOL section 7. <see cref="ErrorCodes.ToWire"/> gives the wire name.</summary>
public enum ErrorCode
{
    CallNotFound = 0,
    CallAlreadyInitiated = 1,
    CallAlreadyJoined = 2,
    CallBusy = 3,
    CallCancelled = 4,
    CallRejected = 5,
    CallEnded = 6,
    InvalidSessionId = 7,
    UserNotLoggedIn = 8,
    CallingSelf = 9,
    CallInProgress = 10,
    CallUnanswered = 11,
    UidNotFound = 12,
    GuidNotFound = 13,
    PermissionDenied = 14,
    BadRequest = 15,
    TooManyRequests = 16,
    Internal = 17,
}

public static class ErrorCodes
{
    private static readonly FrozenDictionary<ErrorCode, string> Wire = new Dictionary<ErrorCode, string>
    {
        [ErrorCode.CallNotFound] = "ERR_CALL_NOT_FOUND",
        [ErrorCode.CallAlreadyInitiated] = "ERR_CALL_ALREADY_INITIATED",
        [ErrorCode.CallAlreadyJoined] = "ERR_CALL_ALREADY_JOINED",
        [ErrorCode.CallBusy] = "ERR_CALL_BUSY",
        [ErrorCode.CallCancelled] = "ERR_CALL_CANCELLED",
        [ErrorCode.CallRejected] = "ERR_CALL_REJECTED",
        [ErrorCode.CallEnded] = "ERR_CALL_ENDED",
        [ErrorCode.InvalidSessionId] = "ERR_INVALID_SESSION_ID",
        [ErrorCode.UserNotLoggedIn] = "ERR_USER_NOT_LOGGED_IN",
        [ErrorCode.CallingSelf] = "ERR_CALLING_SELF",
        [ErrorCode.CallInProgress] = "ERROR_CALL_IN_PROGRESS",
        [ErrorCode.CallUnanswered] = "ERR_CALL_UNANSWERED",
        [ErrorCode.UidNotFound] = "ERR_UID_NOT_FOUND",
        [ErrorCode.GuidNotFound] = "ERR_GUID_NOT_FOUND",
        [ErrorCode.PermissionDenied] = "ERR_PERMISSION_DENIED",
        [ErrorCode.BadRequest] = "ERR_BAD_REQUEST",
        [ErrorCode.TooManyRequests] = "ERR_TOO_MANY_REQUESTS",
        [ErrorCode.Internal] = "ERR_INTERNAL",
    }.ToFrozenDictionary();

    /// <summary>The code as PROTOCOL section 7 spells it.</summary>
    public static string ToWire(this ErrorCode code) => Wire[code];

    /// <summary>The error a request meets when the call has already reached <paramref name="status"/>.</summary>
    public static ErrorCode ForFinalStatus(CallStatus status) => status switch
    {
        CallStatus.Cancelled => ErrorCode.CallCancelled,
        CallStatus.Ended => ErrorCode.CallEnded,
        CallStatus.Rejected or CallStatus.Busy => ErrorCode.CallRejected,
        CallStatus.Unanswered => ErrorCode.CallUnanswered,
        CallStatus.Ongoing => ErrorCode.CallAlreadyJoined,
        _ => throw new ArgumentOutOfRangeException(nameof(status), status, "not a settled status"),
    };
}
