using CallGrains.Abstractions;

namespace CallGrains.Grains.Calls;

/// <summary>
/// The one place a command picks the rules of its call's kind, 1:1 (<see cref="CallRules"/>) or group
/// (<see cref="GroupCallRules"/>), so the session grain and the reference model never branch on it themselves.
/// </summary>
public static class CallKindRules
{
    /// <summary>Whether the call rings for anyone: a 1:1 call until answered, a group call while a member rings.</summary>
    public static bool Rings(CallInfo call) => call.IsGroup ? GroupCallRules.Rings(call) : CallRules.Rings(call);

    public static Decision Accept(CallView view, string uid, string? deviceId, DateTimeOffset now) =>
        view.Call.IsGroup ? GroupCallRules.Accept(view, uid, deviceId, now) : CallRules.Accept(view, uid, deviceId, now);

    public static Decision Reject(CallView view, string uid, CallStatus status, string? deviceId, DateTimeOffset now) =>
        view.Call.IsGroup ? GroupCallRules.Reject(view, uid, status, deviceId, now) : CallRules.Reject(view, uid, status, deviceId, now);

    public static Decision End(CallView view, string uid, string? deviceId, DateTimeOffset now) =>
        view.Call.IsGroup ? GroupCallRules.End(view, uid, deviceId, now) : CallRules.End(view, uid, deviceId, now);

    public static Decision TimeOut(CallView view, DateTimeOffset now) =>
        view.Call.IsGroup ? GroupCallRules.TimeOut(view, now) : CallRules.TimeOut(view, now);

    public static Decision Abandon(CallView view, string uid, DateTimeOffset now) =>
        view.Call.IsGroup ? GroupCallRules.Abandon(view, uid, now) : CallRules.Abandon(view, uid, now);

    /// <summary>The phase a party's slot should show while the call is live, where a repair restates it; null: nothing to restate.</summary>
    public static SlotPhase? PhaseOf(CallInfo call, string uid) =>
        call.IsGroup ? GroupCallRules.PhaseOf(call, uid) : CallRules.PhaseOf(call);
}
