using System.Collections.Frozen;
using CallGrains.Abstractions;

namespace CallGrains.Gateway.Protocol;

/// <summary>The wire names of the contract's enums (PROTOCOL sections 3, 5, 7, 8, 10 and 11), one table per enum, read both ways.</summary>
public static class WireNames
{
    private static readonly NameTable<CallStatus> CallStatuses = new(
        (CallStatus.Initiated, "initiated"),
        (CallStatus.Ongoing, "ongoing"),
        (CallStatus.Unanswered, "unanswered"),
        (CallStatus.Rejected, "rejected"),
        (CallStatus.Busy, "busy"),
        (CallStatus.Cancelled, "cancelled"),
        (CallStatus.Ended, "ended"));

    private static readonly NameTable<CallEventType> EventTypes = new(
        (CallEventType.IncomingCallReceived, "incomingCallReceived"),
        (CallEventType.OutgoingCallAccepted, "outgoingCallAccepted"),
        (CallEventType.OutgoingCallRejected, "outgoingCallRejected"),
        (CallEventType.IncomingCallCanceled, "incomingCallCanceled"),
        (CallEventType.CallEndedMessageReceived, "callEndedMessageReceived"),
        (CallEventType.UserJoined, "userJoined"),
        (CallEventType.UserLeft, "userLeft"),
        (CallEventType.Signal, "signal"));

    private static readonly NameTable<MemberStatus> MemberStatuses = new(
        (MemberStatus.Ringing, "ringing"),
        (MemberStatus.Busy, "busy"),
        (MemberStatus.Rejected, "rejected"),
        (MemberStatus.Unanswered, "unanswered"),
        (MemberStatus.Joined, "joined"));

    private static readonly NameTable<CancelReason> CancelReasons = new(
        (CancelReason.Cancelled, "cancelled"),
        (CancelReason.Unanswered, "unanswered"),
        (CancelReason.AnsweredElsewhere, "answeredElsewhere"),
        (CancelReason.RejectedElsewhere, "rejectedElsewhere"));

    private static readonly NameTable<CallType> CallTypes = new((CallType.Audio, "audio"), (CallType.Video, "video"));

    private static readonly NameTable<ReceiverType> ReceiverTypes = new((ReceiverType.User, "user"), (ReceiverType.Group, "group"));

    private static readonly NameTable<CallDirection> Directions = new((CallDirection.Incoming, "incoming"), (CallDirection.Outgoing, "outgoing"));

    private static readonly NameTable<PushPlatform> PushPlatforms = new(
        (PushPlatform.ApnsVoip, "apns-voip"),
        (PushPlatform.Apns, "apns"),
        (PushPlatform.Fcm, "fcm"));

    private static readonly NameTable<WebhookDeliveryStatus> DeliveryStatuses = new(
        (WebhookDeliveryStatus.Pending, "pending"),
        (WebhookDeliveryStatus.Delivered, "delivered"),
        (WebhookDeliveryStatus.Failed, "failed"));

    private static readonly NameTable<CallErrorCode> ErrorCodes = new(
        (CallErrorCode.CallNotFound, "ERR_CALL_NOT_FOUND"),
        (CallErrorCode.CallAlreadyInitiated, "ERR_CALL_ALREADY_INITIATED"),
        (CallErrorCode.CallAlreadyJoined, "ERR_CALL_ALREADY_JOINED"),
        (CallErrorCode.CallBusy, "ERR_CALL_BUSY"),
        (CallErrorCode.CallCancelled, "ERR_CALL_CANCELLED"),
        (CallErrorCode.CallRejected, "ERR_CALL_REJECTED"),
        (CallErrorCode.CallEnded, "ERR_CALL_ENDED"),
        (CallErrorCode.InvalidSessionId, "ERR_INVALID_SESSION_ID"),
        (CallErrorCode.UserNotLoggedIn, "ERR_USER_NOT_LOGGED_IN"),
        (CallErrorCode.CallingSelf, "ERR_CALLING_SELF"),
        (CallErrorCode.CallInProgress, "ERROR_CALL_IN_PROGRESS"),
        (CallErrorCode.CallUnanswered, "ERR_CALL_UNANSWERED"),
        (CallErrorCode.UidNotFound, "ERR_UID_NOT_FOUND"),
        (CallErrorCode.GuidNotFound, "ERR_GUID_NOT_FOUND"),
        (CallErrorCode.PermissionDenied, "ERR_PERMISSION_DENIED"),
        (CallErrorCode.BadRequest, "ERR_BAD_REQUEST"),
        (CallErrorCode.TooManyRequests, "ERR_TOO_MANY_REQUESTS"),
        (CallErrorCode.Internal, "ERR_INTERNAL"));

    public static string Name(this CallStatus status) => CallStatuses.Name(status);

    public static bool TryParse(string? name, out CallStatus status) => CallStatuses.TryParse(name, out status);

    public static string Name(this CallEventType type) => EventTypes.Name(type);

    public static bool TryParse(string? name, out CallEventType type) => EventTypes.TryParse(name, out type);

    public static string Name(this MemberStatus status) => MemberStatuses.Name(status);

    public static bool TryParse(string? name, out MemberStatus status) => MemberStatuses.TryParse(name, out status);

    public static string Name(this CancelReason reason) => CancelReasons.Name(reason);

    public static bool TryParse(string? name, out CancelReason reason) => CancelReasons.TryParse(name, out reason);

    public static string Name(this CallType type) => CallTypes.Name(type);

    public static bool TryParse(string? name, out CallType type) => CallTypes.TryParse(name, out type);

    public static string Name(this ReceiverType type) => ReceiverTypes.Name(type);

    public static bool TryParse(string? name, out ReceiverType type) => ReceiverTypes.TryParse(name, out type);

    public static string Name(this CallDirection direction) => Directions.Name(direction);

    public static bool TryParse(string? name, out CallDirection direction) => Directions.TryParse(name, out direction);

    public static string Name(this PushPlatform platform) => PushPlatforms.Name(platform);

    public static bool TryParse(string? name, out PushPlatform platform) => PushPlatforms.TryParse(name, out platform);

    public static string Name(this WebhookDeliveryStatus status) => DeliveryStatuses.Name(status);

    public static bool TryParse(string? name, out WebhookDeliveryStatus status) => DeliveryStatuses.TryParse(name, out status);

    /// <summary>The code as PROTOCOL section 7 spells it.</summary>
    public static string Name(this CallErrorCode code) => ErrorCodes.Name(code);

    public static bool TryParse(string? name, out CallErrorCode code) => ErrorCodes.TryParse(name, out code);

    private sealed class NameTable<T>
        where T : struct, Enum
    {
        private readonly FrozenDictionary<T, string> _names;
        private readonly FrozenDictionary<string, T> _values;

        public NameTable(params (T Value, string Name)[] pairs)
        {
            _names = pairs.ToFrozenDictionary(p => p.Value, p => p.Name);
            _values = pairs.ToFrozenDictionary(p => p.Name, p => p.Value, StringComparer.Ordinal);
        }

        public string Name(T value) => _names[value];

        public bool TryParse(string? name, out T value)
        {
            if (name is not null && _values.TryGetValue(name, out value))
            {
                return true;
            }

            value = default;
            return false;
        }
    }
}
