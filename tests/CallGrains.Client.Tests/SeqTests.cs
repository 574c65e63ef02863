using System.Text.Json;

namespace CallGrains.Client.Tests;

/// <summary>Events are numbered per user: a gap (an event lost on the way) is repaired by <c>sync</c>, a repeat is dropped.</summary>
[Collection(ClientNodeGroup.Name)]
public sealed class SeqTests(ClientNodeFixture node)
{
    [Fact]
    public async Task A_lost_event_is_found_by_the_next_one_and_raised_from_sync()
    {
        await using var g = await Group.StartAsync(node, 3);
        var (ann, bob) = (g.Members[0], g.Members[1]);
        var call = await ann.Client.InitiateCallAsync(new Call(g.Guid, CallType.Video, ReceiverType.Group));
        await bob.Events.WaitAsync("incomingCallReceived", call.SessionId);

        // Ann's outgoingCallAccepted is lost; the userJoined right behind it shows the gap.
        ann.Client.DropNextEvents(1);
        await bob.Client.AcceptCallAsync(call.SessionId);

        var accepted = await ann.Events.WaitAsync("outgoingCallAccepted", call.SessionId);
        var joined = await ann.Events.WaitAsync<CallUserEventArgs>("userJoined");
        Assert.Equal(1, ann.Client.EventsDropped);
        Assert.True(accepted.IsResync);
        Assert.True(joined.IsResync);
        Assert.Equal(bob.Client.Uid, joined.User.Uid);
        Assert.Equal(1, ann.Client.SyncsStarted);
        Assert.Equal(CallStatus.Ongoing, ann.Client.CurrentCall?.Status);
        await ann.Events.ExactlyAsync("outgoingCallAccepted", "userJoined");

        // After the repair, events flow as before: seq continues from the snapshot's.
        await g.Members[2].Client.JoinCallAsync(call.SessionId);
        var next = await ann.Events.WaitAsync<CallUserEventArgs>("userJoined", e => e.User.Uid == g.Members[2].Client.Uid);
        Assert.False(next.IsResync);
        Assert.Equal(ann.Client.Seq, next.Seq);
        await ann.Client.EndCallAsync(call.SessionId);
    }

    [Fact]
    public async Task A_response_ahead_of_the_events_seen_starts_a_sync()
    {
        await using var p = await Pair.StartAsync(node);
        var call = await p.RingAsync(CallType.Audio);

        p.A.DropNextEvents(1);
        await p.B.AcceptCallAsync(call.SessionId);
        await CallFlowTests.WaitUntilAsync(() => p.A.EventsDropped == 1, "the accept event to arrive (and be dropped)");
        Assert.Equal(CallStatus.Initiated, p.A.CurrentCall?.Status);

        // Nothing follows the lost event; a signal's response carries the seq the server has told this device.
        await p.A.SendSignalAsync(call.SessionId, p.B.Uid, JsonDocument.Parse("""{"type":"offer"}""").RootElement);

        var accepted = await p.AEvents.WaitAsync("outgoingCallAccepted", call.SessionId);
        Assert.True(accepted.IsResync);
        Assert.Equal(CallStatus.Ongoing, p.A.CurrentCall?.Status);
        await p.A.EndCallAsync(call.SessionId);
    }

    [Fact]
    public async Task An_event_seen_already_is_dropped()
    {
        await using var p = await Pair.StartAsync(node);
        var call = await p.A.InitiateCallAsync(new Call(p.B.Uid, CallType.Audio));
        var incoming = await p.BEvents.WaitAsync("incomingCallReceived", call.SessionId);

        var repeated = new
        {
            @event = "incomingCallReceived",
            seq = incoming.Seq,
            call = new
            {
                sessionId = call.SessionId,
                callType = "audio",
                receiverType = "user",
                receiverId = p.B.Uid,
                initiator = new { uid = p.A.Uid, name = "A" },
                status = "initiated",
                initiatedAt = 1,
                participants = Array.Empty<object>(),
                metadata = new { },
            },
        };
        p.B.HandleForTest(JsonSerializer.Serialize(repeated));

        await p.BEvents.ExactlyAsync("incomingCallReceived");
        Assert.Equal(0, p.B.SyncsStarted);
        await p.A.RejectCallAsync(call.SessionId, CallStatus.Cancelled);
        await p.BEvents.WaitAsync("incomingCallCanceled", call.SessionId);
    }

    [Fact]
    public async Task Sync_on_request_raises_nothing_when_the_view_is_current()
    {
        await using var p = await Pair.StartAsync(node);
        var call = await p.RingAsync(CallType.Audio);

        await p.B.SyncAsync();
        await p.A.SyncAsync();

        await p.BEvents.ExactlyAsync("incomingCallReceived");
        await p.AEvents.ExactlyAsync();
        Assert.Equal(call.SessionId, Assert.Single(p.B.RingingCalls).SessionId);
        Assert.Equal(call.SessionId, p.A.CurrentCall?.SessionId);
        await p.A.RejectCallAsync(call.SessionId, CallStatus.Cancelled);
    }
}
