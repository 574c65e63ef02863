namespace CallGrains.Abstractions;

/// <summary>
/// The wire's spelling of what leaves the server by other roads than a socket (push payloads): the call object of
/// PROTOCOL section 3 as JSON text, and the names of enum values. Written by the gateway's wire code, so a push carries
/// exactly what an event on a socket would.
/// </summary>
public interface IWireText
{
    string CallJson(CallInfo callInfo);

    string Name(CancelReason reason);
}
