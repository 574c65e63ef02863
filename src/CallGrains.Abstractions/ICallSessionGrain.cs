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

    /// <summary>The call as it is now, for a party of it.</summary>
    [Alias("GetCall")]
    Task<CallResult> GetCall(string uid);

    /// <summary>The call with no permission check: for operators and tests.</summary>
    [Alias("Peek")]
    Task<CallInfo?> Peek();
}
