using System.Collections.Immutable;
using Orleans.Concurrency;

namespace CallGrains.Abstractions;

/// <summary>One call session, keyed by session id: owns every transition of the call.</summary>
[Alias("cg.ICallSessionGrain")]
public interface ICallSessionGrain : IGrainWithStringKey
{
    [Alias("InitiateCall")]
    Task<CallResult> InitiateCall(InitiateRequest request);

    [Alias("AcceptCall")]
    Task<CallResult> AcceptCall(string uid, string? deviceId);

    /// <summary><paramref name="status"/> is Rejected or Busy from the callee, Cancelled from the caller.</summary>
    [Alias("RejectCall")]
    Task<CallResult> RejectCall(string uid, CallStatus status, string? deviceId);

    [Alias("EndCall")]
    Task<CallResult> EndCall(string uid, string? deviceId);

    /// <summary>A group member joins a live group call (a ringing member's join is an accept).</summary>
    [Alias("JoinCall")]
    Task<CallResult> JoinCall(string uid, string? deviceId);

    /// <summary>Members removed from the group: the call stops ringing for them (cancelled). Idempotent.</summary>
    [Alias("StopRingingFor")]
    Task StopRingingFor(ImmutableArray<string> uids);

    /// <summary>A participant leaves a group call; the call ends when its last participant leaves.</summary>
    [Alias("LeaveCall")]
    Task<CallResult> LeaveCall(string uid, string? deviceId);

    /// <summary>Relays opaque WebRTC data from one participant of an ongoing call to another.</summary>
    [Alias("Signal")]
    Task<CallResult> Signal(string fromUid, string toUid, string data);

    /// <summary>The call, if <paramref name="uid"/> may have a media token for it: a party of a live call.</summary>
    [Alias("AuthorizeMedia")]
    Task<CallResult> AuthorizeMedia(string uid);

    /// <summary>
    /// The user has had no device for the disconnect grace period: take them out of the call (a ringing call is
    /// cancelled by a vanished caller and unanswered by a vanished callee; an ongoing call ends). Best effort.
    /// </summary>
    [OneWay, Alias("Abandon")]
    Task Abandon(string uid);

    /// <summary>
    /// The session's wake-up index says this call is due: time it out if it still rings past its deadline, deliver
    /// the updates of its outbox that may not have reached the parties, and drop its entry when nothing is left to do.
    /// Sent by every silo's sweep, so a call whose silo died is woken on another one. Idempotent.
    /// </summary>
    [OneWay, Alias("CheckDeadline")]
    Task CheckDeadline();

    /// <summary>
    /// The pushes of one kind this call owed <paramref name="uid"/> were sent, or given up (their ring ended, their
    /// time passed, the provider refused them): the call stops keeping them. Sent by the silo's push dispatcher.
    /// </summary>
    [Alias("PushesDone")]
    Task PushesDone(string uid, PushKind kind, string? deviceId);

    /// <summary>
    /// A device of <paramref name="uid"/> that had the ring on its socket lost that socket while the call still rings
    /// for them (an app sent to the background, a phone off the network): its ring is pushed to that device now, stored
    /// with the call like any push it owes. Sent one-way by the user's grain; nothing happens once the ring is over.
    /// </summary>
    [OneWay, Alias("RingByPush")]
    Task RingByPush(string uid, string deviceId);

    /// <summary>Every endpoint's queue has these webhook events of the call: it stops keeping them. Sent by the silo's webhook dispatcher.</summary>
    [Alias("WebhooksDone")]
    Task WebhooksDone(ImmutableArray<string> ids);

    /// <summary>
    /// Makes <paramref name="uid"/>'s slot agree with this call again: frees it if the call is settled, holds it if the
    /// call is live. For repair after a failure left the two apart; idempotent. Returns the call as it is.
    /// </summary>
    [Alias("Reconcile")]
    Task<CallInfo?> Reconcile(string uid);

    /// <summary>The call as it is now, for a party of it.</summary>
    [Alias("GetCall")]
    Task<CallResult> GetCall(string uid);

    /// <summary>
    /// The call with no permission check: for operators, tests, and other sessions asking whether a slot or a group
    /// this call holds is still taken. Answered at once, also while this call is being initiated (then as it is being
    /// set up, status initiated): a session that waits for another's initiate could wait in a cycle, since initiates
    /// reserve users in any order.
    /// </summary>
    [AlwaysInterleave, Alias("Peek")]
    Task<CallInfo?> Peek();

    /// <summary>
    /// The call as it stands once an initiate in progress has finished (null when that initiate failed): for a group
    /// initiate finding the group claimed by this call, so a busy answer never names a call that never rang. Safe to
    /// wait for: an initiate asks this before it reserves anyone, so nothing this call waits on can be waiting on it.
    /// </summary>
    [Alias("PeekAfterInitiate")]
    Task<CallInfo?> PeekAfterInitiate();
}
