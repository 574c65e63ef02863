using CallGrains.Abstractions;
using static CallGrains.Abstractions.CallEventType;

namespace CallGrains.Tests;

/// <summary>Each party is told exactly what PROTOCOL section 5 lists, in order, numbered by its own seq.</summary>
[Collection(ClusterGroup.Name)]
public sealed class EventTests(ClusterFixture fixture)
{
    private readonly CallTestKit _kit = new(fixture.Cluster);

    [Fact]
    public async Task Ring_accept_end_tells_each_party_its_events()
    {
        var (a, b) = await _kit.CreatePairAsync();
        var probe = await _kit.WatchAsync(a, b);

        var call = await _kit.RingAsync(a, b);
        var accepted = await _kit.Session(call.SessionId).AcceptCall(b, "dev");
        var ended = await _kit.Session(call.SessionId).EndCall(a, "dev");

        await probe.WaitForAsync(a, 1);
        await probe.WaitForAsync(b, 2);
        await EventProbe.SettleAsync();
        Assert.Equal([OutgoingCallAccepted], probe.TypesFor(a));
        Assert.Equal([IncomingCallReceived, CallEndedMessageReceived], probe.TypesFor(b));
        Assert.Equal(CallStatus.Ongoing, probe.For(a)[0].Call!.Status);
        Assert.Equal(CallStatus.Ended, probe.For(b)[1].Call!.Status);
        AssertSeqRisesByOne(probe.For(a), 1);
        // b's accept caused an answeredElsewhere for b's other devices (none here): its seq is in the response.
        Assert.Equal(2, accepted.Seq);
        Assert.Equal([1, 3], probe.For(b).Select(e => e.Seq));
        // a's end told a's other devices too (again none): the response carries that seq.
        Assert.Equal(2, ended.Seq);
    }

    [Fact]
    public async Task Reject_tells_the_caller_and_the_callees_other_devices()
    {
        var (a, b) = await _kit.CreatePairAsync();
        var probe = await _kit.WatchAsync((a, "dev"), (b, "phone"), (b, "tablet"));

        var call = await _kit.RingAsync(a, b);
        await probe.WaitForAsync(b, 1, "tablet");
        var rejected = await _kit.Session(call.SessionId).RejectCall(b, CallStatus.Rejected, "phone");

        await probe.WaitForAsync(a, 1);
        await probe.WaitForAsync(b, 2, "tablet");
        await EventProbe.SettleAsync();
        var toCaller = Assert.Single(probe.For(a));
        Assert.Equal(OutgoingCallRejected, toCaller.Type);
        Assert.Equal(CallStatus.Rejected, toCaller.Call!.Status);
        Assert.Equal([IncomingCallReceived], probe.TypesFor(b, "phone"));
        Assert.Equal([IncomingCallReceived, IncomingCallCanceled], probe.TypesFor(b, "tablet"));
        Assert.Equal(CancelReason.RejectedElsewhere, probe.For(b, "tablet")[1].Reason);
        Assert.Equal(2, rejected.Seq);
        AssertSeqRisesByOne(probe.For(b, "tablet"), 1);
    }

    [Fact]
    public async Task Busy_reject_tells_the_caller_busy()
    {
        var (a, b) = await _kit.CreatePairAsync();
        var probe = await _kit.WatchAsync(a, b);

        var call = await _kit.RingAsync(a, b);
        await _kit.Session(call.SessionId).RejectCall(b, CallStatus.Busy, "dev");

        await probe.WaitForAsync(a, 1);
        Assert.Equal(CallStatus.Busy, Assert.Single(probe.For(a)).Call!.Status);
    }

    [Fact]
    public async Task Cancel_tells_the_callee_cancelled_and_the_caller_nothing()
    {
        var (a, b) = await _kit.CreatePairAsync();
        var probe = await _kit.WatchAsync(a, b);

        var call = await _kit.RingAsync(a, b);
        var cancelled = await _kit.Session(call.SessionId).RejectCall(a, CallStatus.Cancelled, "dev");

        await probe.WaitForAsync(b, 2);
        await EventProbe.SettleAsync();
        Assert.Empty(probe.For(a));
        Assert.Equal(0, cancelled.Seq);
        Assert.Equal([IncomingCallReceived, IncomingCallCanceled], probe.TypesFor(b));
        Assert.Equal(CancelReason.Cancelled, probe.For(b)[1].Reason);
        AssertSeqRisesByOne(probe.For(b), 1);
    }

    [Fact]
    public async Task Unanswered_tells_the_caller_rejected_and_the_callee_canceled()
    {
        var (a, b) = await _kit.CreatePairAsync();
        var probe = await _kit.WatchAsync(a, b);

        await _kit.RingAsync(a, b, timeoutSeconds: null);

        await probe.WaitForAsync(a, 1);
        await probe.WaitForAsync(b, 2);
        var toCaller = Assert.Single(probe.For(a));
        Assert.Equal(OutgoingCallRejected, toCaller.Type);
        Assert.Equal(CallStatus.Unanswered, toCaller.Call!.Status);
        Assert.Equal(CancelReason.Unanswered, probe.For(b)[1].Reason);
    }

    [Fact]
    public async Task Accept_on_one_device_stops_the_other_devices_ringing()
    {
        var (a, b) = await _kit.CreatePairAsync();
        var probe = await _kit.WatchAsync((a, "dev"), (b, "phone"), (b, "tablet"), (b, "laptop"));

        var call = await _kit.RingAsync(a, b);
        await _kit.Session(call.SessionId).AcceptCall(b, "phone");

        await probe.WaitForAsync(b, 2, "tablet");
        await probe.WaitForAsync(b, 2, "laptop");
        await EventProbe.SettleAsync();
        Assert.Equal([IncomingCallReceived], probe.TypesFor(b, "phone"));
        foreach (var other in new[] { "tablet", "laptop" })
        {
            Assert.Equal([IncomingCallReceived, IncomingCallCanceled], probe.TypesFor(b, other));
            Assert.Equal(CancelReason.AnsweredElsewhere, probe.For(b, other)[1].Reason);
        }

        Assert.Equal([OutgoingCallAccepted], probe.TypesFor(a));
    }

    [Fact]
    public async Task Every_device_of_a_user_sees_the_same_seq()
    {
        var (a, b) = await _kit.CreatePairAsync();
        var probe = await _kit.WatchAsync((a, "dev"), (b, "phone"), (b, "tablet"));

        for (var i = 0; i < 3; i++)
        {
            var call = await _kit.RingAsync(a, b);
            await _kit.Session(call.SessionId).RejectCall(a, CallStatus.Cancelled, "dev");
        }

        await probe.WaitForAsync(b, 6, "phone");
        await probe.WaitForAsync(b, 6, "tablet");
        Assert.Equal(probe.For(b, "phone").Select(e => e.Seq), probe.For(b, "tablet").Select(e => e.Seq));
        AssertSeqRisesByOne(probe.For(b, "phone"), 1);
        Assert.Equal(6, (await _kit.SnapshotAsync(b)).Seq);
    }

    private static void AssertSeqRisesByOne(IReadOnlyList<CallEvent> events, long first)
    {
        for (var i = 0; i < events.Count; i++)
        {
            Assert.Equal(first + i, events[i].Seq);
        }
    }
}
