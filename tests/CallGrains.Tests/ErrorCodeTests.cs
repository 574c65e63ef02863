using CallGrains.Abstractions;
using CallGrains.Gateway.Protocol;

namespace CallGrains.Tests;

[Collection(ClusterGroup.Name)]
public sealed class ErrorCodeTests(ClusterFixture fixture)
{
    private readonly CallTestKit _kit = new(fixture.Cluster);

    [Fact]
    public async Task Accepting_a_cancelled_call_is_ERR_CALL_CANCELLED()
    {
        var (a, b, call) = await RingingAsync();
        await _kit.Session(call.SessionId).RejectCall(a, CallStatus.Cancelled, null);

        await AssertErrorAsync(CallErrorCode.CallCancelled, "ERR_CALL_CANCELLED", _kit.Session(call.SessionId).AcceptCall(b, null));
    }

    [Fact]
    public async Task Acting_on_an_ended_call_is_ERR_CALL_ENDED()
    {
        var (a, b) = await _kit.CreatePairAsync();
        var call = await _kit.ConnectAsync(a, b);
        await _kit.Session(call.SessionId).EndCall(a, null);

        await AssertErrorAsync(CallErrorCode.CallEnded, "ERR_CALL_ENDED", _kit.Session(call.SessionId).EndCall(b, null));
        await AssertErrorAsync(CallErrorCode.CallEnded, "ERR_CALL_ENDED", _kit.Session(call.SessionId).AcceptCall(b, null));
    }

    [Fact]
    public async Task Accepting_a_rejected_call_is_ERR_CALL_REJECTED()
    {
        var (a, b, call) = await RingingAsync();
        await _kit.Session(call.SessionId).RejectCall(b, CallStatus.Rejected, null);

        await AssertErrorAsync(CallErrorCode.CallRejected, "ERR_CALL_REJECTED", _kit.Session(call.SessionId).AcceptCall(b, null));
        await AssertErrorAsync(CallErrorCode.CallRejected, "ERR_CALL_REJECTED", _kit.Session(call.SessionId).RejectCall(a, CallStatus.Cancelled, null));
    }

    [Fact]
    public async Task Accepting_an_unanswered_call_is_ERR_CALL_UNANSWERED()
    {
        var (a, b) = await _kit.CreatePairAsync();
        var call = await _kit.RingAsync(a, b, timeoutSeconds: null);
        await CallTestKit.EventuallyAsync(async () => (await _kit.Session(call.SessionId).Peek())!.Status == CallStatus.Unanswered, "ring timeout");

        await AssertErrorAsync(CallErrorCode.CallUnanswered, "ERR_CALL_UNANSWERED", _kit.Session(call.SessionId).AcceptCall(b, null));
    }

    [Fact]
    public async Task A_second_accept_is_ERR_CALL_ALREADY_JOINED()
    {
        var (_, b, call) = await RingingAsync();
        await _kit.Session(call.SessionId).AcceptCall(b, "phone");

        await AssertErrorAsync(CallErrorCode.CallAlreadyJoined, "ERR_CALL_ALREADY_JOINED", _kit.Session(call.SessionId).AcceptCall(b, "tablet"));
    }

    [Fact]
    public async Task An_unknown_session_is_ERR_CALL_NOT_FOUND()
    {
        var (a, _) = await _kit.CreatePairAsync();

        await AssertErrorAsync(CallErrorCode.CallNotFound, "ERR_CALL_NOT_FOUND", _kit.Session(Identifiers.NewSessionId()).AcceptCall(a, null));
        await AssertErrorAsync(CallErrorCode.CallNotFound, "ERR_CALL_NOT_FOUND", _kit.Session(Identifiers.NewSessionId()).EndCall(a, null));
    }

    [Theory]
    [InlineData("has space")]
    [InlineData("semi;colon")]
    [InlineData("slash/id")]
    public async Task A_malformed_session_id_is_ERR_INVALID_SESSION_ID(string sessionId)
    {
        var (a, b) = await _kit.CreatePairAsync();

        await AssertErrorAsync(CallErrorCode.InvalidSessionId, "ERR_INVALID_SESSION_ID", _kit.Session(sessionId).AcceptCall(a, null));
        await AssertErrorAsync(CallErrorCode.InvalidSessionId, "ERR_INVALID_SESSION_ID", _kit.CallAsync(a, b, sessionId: sessionId));
    }

    [Fact]
    public async Task A_session_id_over_128_characters_is_ERR_INVALID_SESSION_ID()
    {
        var (a, _) = await _kit.CreatePairAsync();

        await AssertErrorAsync(CallErrorCode.InvalidSessionId, "ERR_INVALID_SESSION_ID", _kit.Session(new string('x', 129)).AcceptCall(a, null));
    }

    [Fact]
    public async Task Calling_yourself_is_ERR_CALLING_SELF()
    {
        var (a, _) = await _kit.CreatePairAsync();

        await AssertErrorAsync(CallErrorCode.CallingSelf, "ERR_CALLING_SELF", _kit.CallAsync(a, a));
        Assert.Null((await _kit.SnapshotAsync(a)).ActiveCall);
    }

    [Fact]
    public async Task Calling_while_your_call_rings_is_ERR_CALL_ALREADY_INITIATED()
    {
        var (a, _, _) = await RingingAsync();
        var c = (await _kit.CreateUsersAsync(1, "c"))[0];

        var result = await _kit.CallAsync(a, c);

        await AssertErrorAsync(CallErrorCode.CallAlreadyInitiated, "ERR_CALL_ALREADY_INITIATED", Task.FromResult(result));
        Assert.Null(result.Call);
        Assert.Empty((await _kit.SnapshotAsync(c)).Ringing);
    }

    [Fact]
    public async Task Calling_while_in_a_call_is_ERROR_CALL_IN_PROGRESS()
    {
        var (a, b) = await _kit.CreatePairAsync();
        await _kit.ConnectAsync(a, b);
        var c = (await _kit.CreateUsersAsync(1, "c"))[0];

        await AssertErrorAsync(CallErrorCode.CallInProgress, "ERROR_CALL_IN_PROGRESS", _kit.CallAsync(a, c));
        await AssertErrorAsync(CallErrorCode.CallInProgress, "ERROR_CALL_IN_PROGRESS", _kit.CallAsync(b, c));
    }

    [Fact]
    public async Task Calling_while_an_incoming_call_rings_is_ERROR_CALL_IN_PROGRESS()
    {
        var (_, b, _) = await RingingAsync();
        var c = (await _kit.CreateUsersAsync(1, "c"))[0];

        await AssertErrorAsync(CallErrorCode.CallInProgress, "ERROR_CALL_IN_PROGRESS", _kit.CallAsync(b, c));
    }

    [Fact]
    public async Task Calling_a_busy_user_is_ERR_CALL_BUSY()
    {
        var (a, b) = await _kit.CreatePairAsync();
        await _kit.ConnectAsync(a, b);
        var c = (await _kit.CreateUsersAsync(1, "c"))[0];

        await AssertErrorAsync(CallErrorCode.CallBusy, "ERR_CALL_BUSY", _kit.CallAsync(c, a));
    }

    [Fact]
    public async Task The_wrong_party_gets_ERR_PERMISSION_DENIED()
    {
        var (a, b, call) = await RingingAsync();
        var c = (await _kit.CreateUsersAsync(1, "c"))[0];
        var session = _kit.Session(call.SessionId);

        await AssertErrorAsync(CallErrorCode.PermissionDenied, "ERR_PERMISSION_DENIED", session.AcceptCall(a, null));
        await AssertErrorAsync(CallErrorCode.PermissionDenied, "ERR_PERMISSION_DENIED", session.AcceptCall(c, null));
        await AssertErrorAsync(CallErrorCode.PermissionDenied, "ERR_PERMISSION_DENIED", session.RejectCall(a, CallStatus.Rejected, null));
        await AssertErrorAsync(CallErrorCode.PermissionDenied, "ERR_PERMISSION_DENIED", session.RejectCall(b, CallStatus.Cancelled, null));
        await AssertErrorAsync(CallErrorCode.PermissionDenied, "ERR_PERMISSION_DENIED", session.EndCall(c, null));
        await AssertErrorAsync(CallErrorCode.PermissionDenied, "ERR_PERMISSION_DENIED", session.GetCall(c));
        Assert.Equal(CallStatus.Initiated, (await session.Peek())!.Status);
    }

    [Fact]
    public async Task Calling_an_unknown_user_is_ERR_UID_NOT_FOUND()
    {
        var (a, _) = await _kit.CreatePairAsync();

        await AssertErrorAsync(CallErrorCode.UidNotFound, "ERR_UID_NOT_FOUND", _kit.CallAsync(a, "nobody-" + Guid.NewGuid().ToString("N")));
        Assert.Null((await _kit.SnapshotAsync(a)).ActiveCall);
    }

    [Theory]
    [InlineData(4)]
    [InlineData(181)]
    public async Task A_ring_timeout_out_of_range_is_ERR_BAD_REQUEST(int seconds)
    {
        var (a, b) = await _kit.CreatePairAsync();

        await AssertErrorAsync(CallErrorCode.BadRequest, "ERR_BAD_REQUEST", _kit.CallAsync(a, b, seconds));
    }

    [Fact]
    public async Task Metadata_over_4_KiB_is_ERR_BAD_REQUEST()
    {
        var (a, b) = await _kit.CreatePairAsync();
        var request = new InitiateRequest { CallerUid = a, ReceiverId = b, Metadata = $"{{\"x\":\"{new string('y', 4100)}\"}}" };

        await AssertErrorAsync(CallErrorCode.BadRequest, "ERR_BAD_REQUEST", _kit.Session(Identifiers.NewSessionId()).InitiateCall(request));
    }

    [Fact]
    public async Task A_reused_session_id_is_ERR_BAD_REQUEST()
    {
        var (a, b, call) = await RingingAsync();

        await AssertErrorAsync(CallErrorCode.BadRequest, "ERR_BAD_REQUEST", _kit.CallAsync(a, b, sessionId: call.SessionId));
    }

    private static async Task AssertErrorAsync(CallErrorCode expected, string wire, Task<CallResult> pending)
    {
        var result = await pending;
        Assert.False(result.Ok, $"expected {wire}, got ok");
        Assert.Equal(expected, result.Error!.Code);
        Assert.Equal(wire, result.Error.Code.Name());
        Assert.False(string.IsNullOrWhiteSpace(result.Error.Message));
    }

    private async Task<(string A, string B, CallInfo Call)> RingingAsync()
    {
        var (a, b) = await _kit.CreatePairAsync();
        return (a, b, await _kit.RingAsync(a, b));
    }
}
