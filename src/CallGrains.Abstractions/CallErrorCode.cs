using System.Collections.Frozen;

namespace CallGrains.Abstractions;

/// <summary>The error codes of PROTOCOL section 7. <see cref="ErrorCodes.ToWire"/> gives the wire name.</summary>
public enum CallErrorCode
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
    private static readonly FrozenDictionary<CallErrorCode, string> Wire = new Dictionary<CallErrorCode, string>
    {
        [CallErrorCode.CallNotFound] = "ERR_CALL_NOT_FOUND",
        [CallErrorCode.CallAlreadyInitiated] = "ERR_CALL_ALREADY_INITIATED",
        [CallErrorCode.CallAlreadyJoined] = "ERR_CALL_ALREADY_JOINED",
        [CallErrorCode.CallBusy] = "ERR_CALL_BUSY",
        [CallErrorCode.CallCancelled] = "ERR_CALL_CANCELLED",
        [CallErrorCode.CallRejected] = "ERR_CALL_REJECTED",
        [CallErrorCode.CallEnded] = "ERR_CALL_ENDED",
        [CallErrorCode.InvalidSessionId] = "ERR_INVALID_SESSION_ID",
        [CallErrorCode.UserNotLoggedIn] = "ERR_USER_NOT_LOGGED_IN",
        [CallErrorCode.CallingSelf] = "ERR_CALLING_SELF",
        [CallErrorCode.CallInProgress] = "ERROR_CALL_IN_PROGRESS",
        [CallErrorCode.CallUnanswered] = "ERR_CALL_UNANSWERED",
        [CallErrorCode.UidNotFound] = "ERR_UID_NOT_FOUND",
        [CallErrorCode.GuidNotFound] = "ERR_GUID_NOT_FOUND",
        [CallErrorCode.PermissionDenied] = "ERR_PERMISSION_DENIED",
        [CallErrorCode.BadRequest] = "ERR_BAD_REQUEST",
        [CallErrorCode.TooManyRequests] = "ERR_TOO_MANY_REQUESTS",
        [CallErrorCode.Internal] = "ERR_INTERNAL",
    }.ToFrozenDictionary();

    /// <summary>The code as PROTOCOL section 7 spells it.</summary>
    public static string ToWire(this CallErrorCode code) => Wire[code];

    /// <summary>The error a request meets when the call has already reached <paramref name="status"/>.</summary>
    public static CallErrorCode ForFinalStatus(CallStatus status) => status switch
    {
        CallStatus.Cancelled => CallErrorCode.CallCancelled,
        CallStatus.Ended => CallErrorCode.CallEnded,
        CallStatus.Rejected or CallStatus.Busy => CallErrorCode.CallRejected,
        CallStatus.Unanswered => CallErrorCode.CallUnanswered,
        CallStatus.Ongoing => CallErrorCode.CallAlreadyJoined,
        _ => throw new ArgumentOutOfRangeException(nameof(status), status, "not a settled status"),
    };
}
