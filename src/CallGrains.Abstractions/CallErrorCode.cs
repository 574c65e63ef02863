namespace CallGrains.Abstractions;

/// <summary>The error codes of PROTOCOL section 7; the gateway's <c>Protocol/WireNames</c> holds their wire names.</summary>
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
