namespace CallGrains.Client.Tests;

/// <summary>
/// The connection drops (the client aborts its socket, as a phone losing its network) and comes back: the app sees the
/// events it missed, raised from the difference between what it knew and the server's <c>welcome</c>.
/// </summary>
[Collection(ClientNodeGroup.Name)]
public sealed class ReconnectTests(ClientNodeFixture node)
{
    // Long enough for the other side to act while the client is away; short enough for the call to survive it.
    private static readonly TimeSpan Away = TimeSpan.FromSeconds(3);

    [Fact]
    public async Task A_call_that_started_ringing_while_away_is_raised_after_reconnecting()
    {
        await using var p = await Pair.StartAsync(node, Users.SlowToReconnect(Away));

        await DropAsync(p.B, p.BEvents);
        var call = await p.A.InitiateCallAsync(new Call(p.B.Uid, CallType.Video));
        await p.BEvents.WaitAsync<ConnectionStateChangedEventArgs>("connection:Connected");

        var incoming = await p.BEvents.WaitAsync("incomingCallReceived", call.SessionId);
        Assert.True(incoming.IsResync);
        Assert.Equal(call.SessionId, Assert.Single(p.B.RingingCalls).SessionId);
        Assert.Equal(CallStatus.Ongoing, (await p.B.AcceptCallAsync(call.SessionId)).Status);
        await p.AEvents.WaitAsync("outgoingCallAccepted", call.SessionId);
        await p.BEvents.ExactlyAsync("incomingCallReceived");
    }

    [Fact]
    public async Task A_call_cancelled_while_away_is_raised_as_canceled_after_reconnecting()
    {
        await using var p = await Pair.StartAsync(node, Users.SlowToReconnect(Away));
        var call = await p.RingAsync(CallType.Audio);

        await DropAsync(p.B, p.BEvents);
        await p.A.RejectCallAsync(call.SessionId, CallStatus.Cancelled);

        var canceled = await p.BEvents.WaitAsync<CallCanceledEventArgs>("incomingCallCanceled");
        Assert.True(canceled.IsResync);
        Assert.Equal((call.SessionId, CancelReason.Cancelled, CallStatus.Cancelled), (canceled.Call.SessionId, canceled.Reason, canceled.Call.Status));
        Assert.Empty(p.B.RingingCalls);
        await p.BEvents.ExactlyAsync("incomingCallReceived", "incomingCallCanceled");
    }

    [Fact]
    public async Task A_call_accepted_while_the_caller_was_away_is_raised_after_reconnecting()
    {
        var users = await node.UsersAsync(2);
        await using var a = await node.ConnectAsync(users[0].Token, configure: Users.SlowToReconnect(Away));
        await using var b = await node.ConnectAsync(users[1].Token);
        var (aEvents, bEvents) = (new Recorder(a), new Recorder(b));
        var call = await a.InitiateCallAsync(new Call(b.Uid, CallType.Video));
        await bEvents.WaitAsync("incomingCallReceived", call.SessionId);

        await DropAsync(a, aEvents);
        await b.AcceptCallAsync(call.SessionId);

        var accepted = await aEvents.WaitAsync("outgoingCallAccepted", call.SessionId);
        Assert.True(accepted.IsResync);
        Assert.Equal(CallStatus.Ongoing, a.CurrentCall?.Status);
        await a.EndCallAsync(call.SessionId);
        await bEvents.WaitAsync("callEndedMessageReceived", call.SessionId);
    }

    [Fact]
    public async Task A_call_unanswered_while_the_caller_was_away_is_raised_as_rejected_after_reconnecting()
    {
        var users = await node.UsersAsync(2);
        await using var a = await node.ConnectAsync(users[0].Token, configure: Users.SlowToReconnect(TimeSpan.FromSeconds(7)));
        await using var b = await node.ConnectAsync(users[1].Token);
        var aEvents = new Recorder(a);
        var call = await a.InitiateCallAsync(new Call(b.Uid, CallType.Video) { TimeoutSeconds = 5 });

        await DropAsync(a, aEvents);

        var rejected = await aEvents.WaitAsync("outgoingCallRejected", call.SessionId);
        Assert.True(rejected.IsResync);
        Assert.Equal(CallStatus.Unanswered, rejected.Call.Status);
        Assert.Null(a.CurrentCall);
    }

    [Fact]
    public async Task A_call_that_ended_while_away_is_raised_after_reconnecting()
    {
        await using var p = await Pair.StartAsync(node, Users.SlowToReconnect(Away));
        var call = await p.ConnectCallAsync(CallType.Video);

        await DropAsync(p.B, p.BEvents);
        await p.A.EndCallAsync(call.SessionId);

        var ended = await p.BEvents.WaitAsync("callEndedMessageReceived", call.SessionId);
        Assert.True(ended.IsResync);
        Assert.Equal(CallStatus.Ended, ended.Call.Status);
        Assert.Null(p.B.CurrentCall);
    }

    [Fact]
    public async Task A_call_goes_on_across_a_reconnect_and_nothing_is_raised_twice()
    {
        await using var p = await Pair.StartAsync(node);
        var call = await p.ConnectCallAsync(CallType.Video);

        await DropAsync(p.A, p.AEvents);
        await p.AEvents.WaitAsync<ConnectionStateChangedEventArgs>("connection:Connected");

        Assert.Equal((call.SessionId, CallStatus.Ongoing), (p.A.CurrentCall?.SessionId, p.A.CurrentCall?.Status));
        await p.A.SendSignalAsync(call.SessionId, p.B.Uid, System.Text.Json.JsonDocument.Parse("""{"type":"ice"}""").RootElement);
        await p.BEvents.WaitAsync<SignalEventArgs>("signal");
        await p.B.EndCallAsync(call.SessionId);
        await p.AEvents.WaitAsync("callEndedMessageReceived", call.SessionId);
        await p.AEvents.ExactlyAsync("outgoingCallAccepted", "callEndedMessageReceived");
        Assert.Equal(["connection:Reconnecting", "connection:Connected"], p.AEvents.Names.Where(n => n.StartsWith("connection:", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task A_request_while_reconnecting_fails_at_once_with_ERR_NOT_CONNECTED()
    {
        await using var p = await Pair.StartAsync(node, Users.SlowToReconnect(Away));

        await DropAsync(p.B, p.BEvents);
        var refused = await Assert.ThrowsAsync<CallGrainsException>(() => p.B.InitiateCallAsync(new Call(p.A.Uid, CallType.Audio)));

        Assert.Equal(ErrorCodes.NotConnected, refused.Code);
        await p.BEvents.WaitAsync<ConnectionStateChangedEventArgs>("connection:Connected");
        Assert.Equal(CallStatus.Initiated, (await p.B.InitiateCallAsync(new Call(p.A.Uid, CallType.Audio))).Status);
    }

    /// <summary>Drops the client's socket and waits until it knows (it is then reconnecting, with its back-off).</summary>
    internal static async Task DropAsync(CallGrainsClient client, Recorder events)
    {
        var before = events.Names.Count(n => n == "connection:Reconnecting");
        client.AbortConnection();
        await events.WaitAsync<ConnectionStateChangedEventArgs>("connection:Reconnecting");
        await CallFlowTests.WaitUntilAsync(() => events.Names.Count(n => n == "connection:Reconnecting") > before, "the drop to be seen");
    }
}
