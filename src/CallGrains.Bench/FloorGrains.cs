using System.Collections.Concurrent;

namespace CallGrains.Bench;

/// <summary>
/// The grain-call floor under a ring cycle (<c>bench floor-cycles --grains 1</c>): grains that make the same Orleans
/// calls, in the same order, as a 1:1 cycle of the real grains (docs/benchmarks.md, issue 22 session 20's count) and
/// do nothing else: no rules, no state, no storage, no outbox, no deadline. What is left is what Orleans costs to carry
/// a cycle through grains per user and per call on this machine.
/// </summary>
/// <remarks>
/// The real cycle's calls: the socket's request to the session; the session reserves the caller, then the callee; it
/// rings the callee (one update); on accept it updates both parties at once; on end it releases both at once, then
/// archives the call (one record and both parties' history entries, at once). Each update that has an event for a
/// device hands it to that device's socket, as the real user grain hands it to the gateway's hub on its silo.
/// </remarks>
[Alias("floor.ISessionGrain")]
public interface IFloorSessionGrain : IGrainWithStringKey
{
    Task<FloorCall> Initiate(string caller, string callee, double now);

    Task<FloorCall?> Accept(string uid, double now);

    Task<FloorCall?> Hangup(string uid, double now);
}

[Alias("floor.IUserGrain")]
public interface IFloorUserGrain : IGrainWithStringKey
{
    Task<long> Reserve(string sessionId);

    /// <summary>Applies a call's new state for this user; <paramref name="evt"/> (when not null) goes to its device.</summary>
    Task<long> Update(FloorCall floorCall, string? evt);
}

[Alias("floor.ILogGrain")]
public interface IFloorLogGrain : IGrainWithStringKey
{
    Task Add(FloorCall floorCall);
}

/// <summary>A call as the wire shows it (PROTOCOL section 3), the fields a 1:1 audio call has.</summary>
[GenerateSerializer, Immutable, Alias("floor.Call")]
public sealed record FloorCall(
    [property: Id(0)] string SessionId,
    [property: Id(1)] string Caller,
    [property: Id(2)] string Callee,
    [property: Id(3)] string Status,
    [property: Id(4)] double InitiatedAt,
    [property: Id(5)] double? JoinedAt,
    [property: Id(6)] double? EndedAt);

public sealed class FloorSessionGrain(IGrainFactory grains) : Grain, IFloorSessionGrain
{
    private FloorCall? _call;

    public async Task<FloorCall> Initiate(string caller, string callee, double now)
    {
        var call = _call = new FloorCall(this.GetPrimaryKeyString(), caller, callee, "initiated", now, null, null);
        await grains.GetGrain<IFloorUserGrain>(caller).Reserve(call.SessionId);
        await grains.GetGrain<IFloorUserGrain>(callee).Reserve(call.SessionId);
        await grains.GetGrain<IFloorUserGrain>(callee).Update(call, "incomingCallReceived");
        return call;
    }

    public async Task<FloorCall?> Accept(string uid, double now)
    {
        if (_call is not { Status: "initiated" } ringing)
        {
            return null;
        }

        var call = _call = ringing with { Status = "ongoing", JoinedAt = now };
        await Task.WhenAll(
            grains.GetGrain<IFloorUserGrain>(call.Caller).Update(call, "outgoingCallAccepted"),
            grains.GetGrain<IFloorUserGrain>(call.Callee).Update(call, null));
        return call;
    }

    public async Task<FloorCall?> Hangup(string uid, double now)
    {
        if (_call is not { Status: "ongoing" } ongoing)
        {
            return null;
        }

        var call = _call = ongoing with { Status = "ended", EndedAt = now };
        var other = uid == call.Caller ? call.Callee : call.Caller;
        await Task.WhenAll(
            grains.GetGrain<IFloorUserGrain>(other).Update(call, "callEndedMessageReceived"),
            grains.GetGrain<IFloorUserGrain>(uid).Update(call, null));
        await Task.WhenAll(
            grains.GetGrain<IFloorLogGrain>($"record-{call.SessionId[..2]}").Add(call),
            grains.GetGrain<IFloorLogGrain>(call.Caller).Add(call),
            grains.GetGrain<IFloorLogGrain>(call.Callee).Add(call));

        // A settled call leaves memory at once, as the real session does.
        DeactivateOnIdle();
        return call;
    }
}

public sealed class FloorUserGrain(FloorDevices devices) : Grain, IFloorUserGrain
{
    private long _seq;

    public Task<long> Reserve(string sessionId) => Task.FromResult(_seq);

    public Task<long> Update(FloorCall floorCall, string? evt)
    {
        if (evt is not null)
        {
            _seq++;
            devices.Send(this.GetPrimaryKeyString(), evt, _seq, floorCall);
        }

        return Task.FromResult(_seq);
    }
}

public sealed class FloorLogGrain : Grain, IFloorLogGrain
{
    public Task Add(FloorCall floorCall) => Task.CompletedTask;
}

/// <summary>The floor server's open sockets by user (a singleton): what the gateway's hub is to the real user grains.</summary>
public sealed class FloorDevices
{
    public ConcurrentDictionary<string, Func<string, long, FloorCall, Task>> ByUser { get; } = new(StringComparer.Ordinal);

    /// <summary>Hands the event to the user's socket without waiting for it to be written (a grain turn never waits on a socket).</summary>
    public void Send(string uid, string evt, long seq, FloorCall call)
    {
        if (ByUser.TryGetValue(uid, out var send))
        {
            _ = send(evt, seq, call);
        }
    }
}
