using System.Text;
using System.Text.Json;

namespace CallGrains.Client.Tests;

/// <summary>The 1:1 ringing flow through the SDK against a real node: what each side's app sees, events and views.</summary>
[Collection(ClientNodeGroup.Name)]
public sealed class CallFlowTests(ClientNodeFixture node)
{
    [Fact]
    public async Task Call_accept_signal_end_reach_both_sides()
    {
        await using var p = await Pair.StartAsync(node);

        var call = await p.A.InitiateCallAsync(new Call(p.B.Uid, CallType.Video, ReceiverType.User));

        Assert.Equal((CallStatus.Initiated, CallType.Video, p.A.Uid), (call.Status, call.CallType, call.Initiator.Uid));
        Assert.Equal(call.SessionId, p.A.CurrentCall?.SessionId);
        var incoming = await p.BEvents.WaitAsync("incomingCallReceived", call.SessionId);
        Assert.False(incoming.IsResync);
        Assert.Equal(call.SessionId, Assert.Single(p.B.RingingCalls).SessionId);

        var accepted = await p.B.AcceptCallAsync(call.SessionId);

        Assert.Equal(CallStatus.Ongoing, accepted.Status);
        Assert.Empty(p.B.RingingCalls);
        Assert.Equal(CallStatus.Ongoing, p.B.CurrentCall?.Status);
        var toCaller = await p.AEvents.WaitAsync("outgoingCallAccepted", call.SessionId);
        Assert.Equal(2, toCaller.Call.Participants.Count);
        Assert.Equal(CallStatus.Ongoing, p.A.CurrentCall?.Status);

        await p.A.SendSignalAsync(call.SessionId, p.B.Uid, JsonDocument.Parse("""{"type":"offer","sdp":"v=0"}""").RootElement);
        var signal = await p.BEvents.WaitAsync<SignalEventArgs>("signal");
        Assert.Equal((call.SessionId, p.A.Uid, "offer"), (signal.SessionId, signal.From, signal.Data.GetProperty("type").GetString()));

        var ended = await p.A.EndCallAsync(call.SessionId);

        Assert.Equal(CallStatus.Ended, ended.Status);
        Assert.NotNull(ended.Duration);
        var endedEvent = await p.BEvents.WaitAsync("callEndedMessageReceived", call.SessionId);
        Assert.Equal(CallStatus.Ended, endedEvent.Call.Status);
        Assert.Null(p.A.CurrentCall);
        Assert.Null(p.B.CurrentCall);
        await p.AEvents.ExactlyAsync("outgoingCallAccepted");
        await p.BEvents.ExactlyAsync("incomingCallReceived", "signal", "callEndedMessageReceived");
    }

    [Theory]
    [InlineData(CallStatus.Rejected)]
    [InlineData(CallStatus.Busy)]
    public async Task Callee_declines_and_the_caller_is_told(CallStatus status)
    {
        await using var p = await Pair.StartAsync(node);
        var call = await p.RingAsync(CallType.Audio);

        var declined = await p.B.RejectCallAsync(call.SessionId, status);

        Assert.Equal(status, declined.Status);
        var rejected = await p.AEvents.WaitAsync("outgoingCallRejected", call.SessionId);
        Assert.Equal(status, rejected.Call.Status);
        Assert.Null(p.A.CurrentCall);
        Assert.Empty(p.B.RingingCalls);
    }

    [Fact]
    public async Task Calling_a_busy_user_fails_with_ERR_CALL_BUSY_and_the_busy_call()
    {
        await using var p = await Pair.StartAsync(node);
        var (cUid, cToken) = (await node.UsersAsync(1, "c"))[0];
        await using var c = await node.ConnectAsync(cToken);
        var call = await p.ConnectCallAsync(CallType.Video);

        var busy = await Assert.ThrowsAsync<CallGrainsException>(() => c.InitiateCallAsync(new Call(p.B.Uid, CallType.Video)));

        Assert.Equal(ErrorCodes.CallBusy, busy.Code);
        Assert.Equal(CallStatus.Busy, busy.Call?.Status);
        Assert.Equal(cUid, busy.Call?.Initiator.Uid);
        Assert.Null(c.CurrentCall);
        await p.BEvents.ExactlyAsync("incomingCallReceived");
    }

    [Fact]
    public async Task Caller_cancels_and_the_callee_stops_ringing()
    {
        await using var p = await Pair.StartAsync(node);
        var call = await p.RingAsync(CallType.Video);

        var cancelled = await p.A.RejectCallAsync(call.SessionId, CallStatus.Cancelled);

        Assert.Equal(CallStatus.Cancelled, cancelled.Status);
        var canceled = await p.BEvents.WaitAsync<CallCanceledEventArgs>("incomingCallCanceled");
        Assert.Equal((call.SessionId, CancelReason.Cancelled, false), (canceled.Call.SessionId, canceled.Reason, canceled.IsResync));
        Assert.Null(p.A.CurrentCall);
        Assert.Empty(p.B.RingingCalls);
    }

    [Fact]
    public async Task Nobody_answers_and_the_call_is_unanswered_for_both()
    {
        await using var p = await Pair.StartAsync(node);

        var call = await p.A.InitiateCallAsync(new Call(p.B.Uid, CallType.Video) { TimeoutSeconds = 5 });

        Assert.Equal(5, call.TimeoutSeconds);
        var rejected = await p.AEvents.WaitAsync("outgoingCallRejected", call.SessionId);
        Assert.Equal(CallStatus.Unanswered, rejected.Call.Status);
        var canceled = await p.BEvents.WaitAsync<CallCanceledEventArgs>("incomingCallCanceled");
        Assert.Equal(CancelReason.Unanswered, canceled.Reason);
        var late = await Assert.ThrowsAsync<CallGrainsException>(() => p.B.AcceptCallAsync(call.SessionId));
        Assert.Equal(ErrorCodes.CallUnanswered, late.Code);
        Assert.Empty(p.B.RingingCalls);
        Assert.Null(p.A.CurrentCall);
    }

    [Fact]
    public async Task Two_users_calling_each_other_get_one_call()
    {
        await using var p = await Pair.StartAsync(node);
        var first = await p.RingAsync(CallType.Video);

        var second = await p.B.InitiateCallAsync(new Call(p.A.Uid, CallType.Video));

        Assert.Equal((first.SessionId, CallStatus.Ongoing), (second.SessionId, second.Status));
        await p.AEvents.WaitAsync("outgoingCallAccepted", first.SessionId);
        Assert.Equal(first.SessionId, p.B.CurrentCall?.SessionId);
        Assert.Empty(p.B.RingingCalls);
        await p.A.EndCallAsync(first.SessionId);
    }

    [Fact]
    public async Task Another_device_answering_stops_the_ringing_here()
    {
        var users = await node.UsersAsync(2);
        await using var a = await node.ConnectAsync(users[0].Token);
        await using var phone = await node.ConnectAsync(users[1].Token, "phone");
        await using var tablet = await node.ConnectAsync(users[1].Token, "tablet");
        var phoneEvents = new Recorder(phone, "phone");
        var tabletEvents = new Recorder(tablet, "tablet");
        var call = await a.InitiateCallAsync(new Call(users[1].Uid, CallType.Audio));
        await phoneEvents.WaitAsync("incomingCallReceived", call.SessionId);
        await tabletEvents.WaitAsync("incomingCallReceived", call.SessionId);

        await phone.AcceptCallAsync(call.SessionId);

        var canceled = await tabletEvents.WaitAsync<CallCanceledEventArgs>("incomingCallCanceled");
        Assert.Equal(CancelReason.AnsweredElsewhere, canceled.Reason);
        Assert.Empty(tablet.RingingCalls);
        Assert.Equal(call.SessionId, tablet.CurrentCall?.SessionId);
        var second = await Assert.ThrowsAsync<CallGrainsException>(() => tablet.AcceptCallAsync(call.SessionId));
        Assert.Equal(ErrorCodes.CallAlreadyJoined, second.Code);
        await a.EndCallAsync(call.SessionId);
    }

    [Fact]
    public async Task Errors_carry_the_protocol_codes()
    {
        await using var p = await Pair.StartAsync(node);

        async Task<CallGrainsException> Fails(Func<Task> action) => await Assert.ThrowsAsync<CallGrainsException>(action);

        Assert.Equal(ErrorCodes.CallingSelf, (await Fails(() => p.A.InitiateCallAsync(new Call(p.A.Uid, CallType.Audio)))).Code);
        Assert.Equal(ErrorCodes.UidNotFound, (await Fails(() => p.A.InitiateCallAsync(new Call($"nobody-{Guid.NewGuid():N}", CallType.Audio)))).Code);
        Assert.Equal(ErrorCodes.CallNotFound, (await Fails(() => p.A.AcceptCallAsync(Guid.NewGuid().ToString("N")))).Code);
        Assert.Equal(ErrorCodes.InvalidSessionId, (await Fails(() => p.A.EndCallAsync("not a session id!"))).Code);
        var rest = await Fails(() => p.A.GenerateTokenAsync(Guid.NewGuid().ToString("N")));
        Assert.Equal((ErrorCodes.CallNotFound, 404), (rest.Code, rest.HttpStatus));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => p.A.RejectCallAsync("s", CallStatus.Ended));

        var call = await p.A.InitiateCallAsync(new Call(p.B.Uid, CallType.Audio));
        var twice = await Fails(() => p.A.InitiateCallAsync(new Call(p.B.Uid, CallType.Audio)));
        Assert.Contains(twice.Code, new[] { ErrorCodes.CallAlreadyInitiated, ErrorCodes.CallInProgress });
        Assert.Equal(ErrorCodes.PermissionDenied, (await Fails(() => p.A.AcceptCallAsync(call.SessionId))).Code);
        await p.A.RejectCallAsync(call.SessionId, CallStatus.Cancelled);
        Assert.Equal(ErrorCodes.CallCancelled, (await Fails(() => p.B.AcceptCallAsync(call.SessionId))).Code);
        Assert.Equal(ConnectionState.Connected, p.A.State);
    }

    [Fact]
    public async Task A_refused_token_fails_the_connection_with_ERR_USER_NOT_LOGGED_IN()
    {
        var refused = await Assert.ThrowsAsync<CallGrainsException>(() => node.ConnectAsync("not-a-token"));

        Assert.Equal((ErrorCodes.UserNotLoggedIn, 401), (refused.Code, refused.HttpStatus));
    }

    [Fact]
    public async Task A_blocked_event_handler_holds_up_later_events_but_not_responses()
    {
        await using var p = await Pair.StartAsync(node);
        using var release = new ManualResetEventSlim();
        using var entered = new ManualResetEventSlim();
        p.B.IncomingCallReceived += (_, _) =>
        {
            entered.Set();
            release.Wait(TimeSpan.FromSeconds(60));
        };
        var call = await p.A.InitiateCallAsync(new Call(p.B.Uid, CallType.Audio));
        Assert.True(entered.Wait(TimeSpan.FromSeconds(30)));

        // The handler is still blocked: the response comes all the same, and the view is current.
        var accepted = await p.B.AcceptCallAsync(call.SessionId);
        await p.A.EndCallAsync(call.SessionId);
        await WaitUntilAsync(() => p.B.CurrentCall is null);

        Assert.Equal(CallStatus.Ongoing, accepted.Status);
        Assert.DoesNotContain("callEndedMessageReceived", p.BEvents.CallEvents);
        release.Set();
        await p.BEvents.WaitAsync("callEndedMessageReceived", call.SessionId);
    }

    internal static Task WaitUntilAsync(Func<bool> condition, string? what = null, int seconds = 30) => WaitUntilAsync(() => Task.FromResult(condition()), what, seconds);

    internal static async Task WaitUntilAsync(Func<Task<bool>> condition, string? what = null, int seconds = 30)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"waited {seconds} s for {what ?? "a condition"}");
            await Task.Delay(20);
        }
    }

    internal static string JwtClaim(string jwt, string claim)
    {
        var payload = jwt.Split('.')[1].Replace('-', '+').Replace('_', '/');
        payload = payload.PadRight(payload.Length + ((4 - (payload.Length % 4)) % 4), '=');
        using var doc = JsonDocument.Parse(Encoding.UTF8.GetString(Convert.FromBase64String(payload)));
        return doc.RootElement.GetProperty(claim).ToString();
    }
}

/// <summary>Two users, each with one connected client and a recorder of its events.</summary>
internal sealed class Pair : IAsyncDisposable
{
    private Pair(CallGrainsClient a, CallGrainsClient b)
    {
        (A, B) = (a, b);
        (AEvents, BEvents) = (new Recorder(a), new Recorder(b));
    }

    public CallGrainsClient A { get; }

    public CallGrainsClient B { get; }

    public Recorder AEvents { get; }

    public Recorder BEvents { get; }

    /// <summary>A calls B and B's phone rings.</summary>
    public async Task<CallInfo> RingAsync(CallType type)
    {
        var call = await A.InitiateCallAsync(new Call(B.Uid, type));
        await BEvents.WaitAsync("incomingCallReceived", call.SessionId);
        return call;
    }

    /// <summary>A calls B, B answers, A is told: the call is ongoing for both.</summary>
    public async Task<CallInfo> ConnectCallAsync(CallType type)
    {
        var call = await RingAsync(type);
        await B.AcceptCallAsync(call.SessionId);
        await AEvents.WaitAsync("outgoingCallAccepted", call.SessionId);
        return call;
    }

    public static async Task<Pair> StartAsync(ClientNodeFixture node, Action<CallGrainsClientOptions>? configureB = null)
    {
        var users = await node.UsersAsync(2);
        var a = await node.ConnectAsync(users[0].Token);
        var b = await node.ConnectAsync(users[1].Token, configure: configureB);
        return new Pair(a, b);
    }

    public async ValueTask DisposeAsync()
    {
        await A.DisposeAsync();
        await B.DisposeAsync();
    }
}
