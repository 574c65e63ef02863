namespace CallGrains.Abstractions;

/// <summary>
/// The wire's spelling of what leaves the server by other roads than a socket (push payloads): the call object of
/// PROTOCOL section 3 as JSON text, and the names of enum values. Written by the gateway's wire code, so a push carries
/// exactly what an event on a socket would.
/// </summary>
public interface IWireText
{
    string CallJson(CallInfo callInfo);

    /// <summary>
    /// The call object cut to what fits any push provider's size limit: every field of PROTOCOL section 3 with
    /// <c>participants</c> empty, <c>metadata</c> empty, no <c>members</c>, and <c>"truncated":true</c> (the whole call
    /// is at <c>GET /v1/calls/{sessionId}</c>). Bounded by the identifiers' and name's limits, whatever the call holds.
    /// </summary>
    string CompactCallJson(CallInfo callInfo);

    string Name(CancelReason reason);
}
