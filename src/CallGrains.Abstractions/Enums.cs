namespace CallGrains.Abstractions;

/// <summary>Audio or video, as the caller chose it.</summary>
public enum CallType
{
    Audio = 0,
    Video = 1,
}

/// <summary>Whether a call goes to one user or to a group.</summary>
public enum ReceiverType
{
    User = 0,
    Group = 1,
}

/// <summary>The status of a call; the last five are final.</summary>
public enum CallStatus
{
    Initiated = 0,
    Ongoing = 1,
    Unanswered = 2,
    Rejected = 3,
    Busy = 4,
    Cancelled = 5,
    Ended = 6,
}

/// <summary>Why a ringing device stopped ringing (PROTOCOL section 5, incomingCallCanceled).</summary>
public enum CancelReason
{
    Cancelled = 0,
    Unanswered = 1,
    AnsweredElsewhere = 2,
    RejectedElsewhere = 3,
}

/// <summary>The events of PROTOCOL section 5 that follow a state change.</summary>
public enum CallEventType
{
    IncomingCallReceived = 0,
    OutgoingCallAccepted = 1,
    OutgoingCallRejected = 2,
    IncomingCallCanceled = 3,
    CallEndedMessageReceived = 4,
    UserJoined = 5,
    UserLeft = 6,
    Signal = 7,
}

public static class CallStatusExtensions
{
    public static bool IsFinal(this CallStatus status) => status is not (CallStatus.Initiated or CallStatus.Ongoing);

    public static bool IsLive(this CallStatus status) => !status.IsFinal();
}
