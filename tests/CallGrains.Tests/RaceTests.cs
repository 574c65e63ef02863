using CallGrains.Abstractions;

namespace CallGrains.Tests;

/// <summary>Races run as races: both requests in flight at once, many rounds, invariants over every party after each.</summary>
[Collection(ClusterGroup.Name)]
public sealed class RaceTests(ClusterFixture fixture)
{
    private const int Rounds = 200;
    private readonly CallTestKit _kit = new(fixture.Cluster);

    [Fact]
    public async Task Cancel_against_accept_has_one_winner_and_every_party_agrees()
    {
        var (a, b) = await _kit.CreatePairAsync();
        var sessions = new List<string>();
        var outcomes = new Dictionary<CallStatus, int>();
        for (var round = 0; round < Rounds; round++)
        {
            var call = await _kit.RingAsync(a, b);
            sessions.Add(call.SessionId);
            var session = _kit.Session(call.SessionId);
            var cancel = Task.Run(() => session.RejectCall(a, CallStatus.Cancelled, null));
            var accept = Task.Run(() => session.AcceptCall(b, null));
            var results = await Task.WhenAll(cancel, accept);

            Assert.Single(results, r => r.Ok);
            var final = (await session.Peek())!.Status;
            outcomes[final] = outcomes.GetValueOrDefault(final) + 1;
            if (final == CallStatus.Ongoing)
            {
                Assert.Equal(CallErrorCode.CallAlreadyJoined, results[0].Error!.Code);
                Assert.Equal(call.SessionId, (await _kit.SnapshotAsync(a)).ActiveCall!.SessionId);
                Assert.Equal(call.SessionId, (await _kit.SnapshotAsync(b)).ActiveCall!.SessionId);
                Assert.True((await session.EndCall(a, null)).Ok);
            }
            else
            {
                Assert.Equal(CallStatus.Cancelled, final);
                Assert.Equal(CallErrorCode.CallCancelled, results[1].Error!.Code);
            }

            await _kit.AssertConsistentAsync([a, b], sessions.TakeLast(1));
            await _kit.AssertFreeAsync(a, b);
        }

        Assert.Equal(Rounds, outcomes.Values.Sum());
    }

    [Fact]
    public async Task Two_devices_accepting_have_one_winner()
    {
        var (a, b) = await _kit.CreatePairAsync();
        for (var round = 0; round < Rounds; round++)
        {
            var call = await _kit.RingAsync(a, b);
            var session = _kit.Session(call.SessionId);
            var results = await Task.WhenAll(
                Task.Run(() => session.AcceptCall(b, "phone")),
                Task.Run(() => session.AcceptCall(b, "tablet")));

            Assert.Single(results, r => r.Ok);
            Assert.Equal(CallErrorCode.CallAlreadyJoined, Assert.Single(results, r => !r.Ok).Error!.Code);
            Assert.Equal(CallStatus.Ongoing, (await session.Peek())!.Status);
            await _kit.AssertConsistentAsync([a, b], [call.SessionId]);
            Assert.True((await session.EndCall(b, null)).Ok);
            await _kit.AssertFreeAsync(a, b);
        }
    }

    [Fact]
    public async Task End_against_end_has_one_winner()
    {
        var (a, b) = await _kit.CreatePairAsync();
        for (var round = 0; round < Rounds; round++)
        {
            var call = await _kit.ConnectAsync(a, b);
            var session = _kit.Session(call.SessionId);
            var results = await Task.WhenAll(
                Task.Run(() => session.EndCall(a, null)),
                Task.Run(() => session.EndCall(b, null)));

            Assert.Single(results, r => r.Ok);
            Assert.Equal(CallErrorCode.CallEnded, Assert.Single(results, r => !r.Ok).Error!.Code);
            Assert.Equal(CallStatus.Ended, (await session.Peek())!.Status);
            await _kit.AssertFreeAsync(a, b);
        }
    }

    [Fact]
    public async Task Ten_callers_to_one_free_callee_ring_exactly_once()
    {
        var users = await _kit.CreateUsersAsync(11);
        var callee = users[0];
        var callers = users[1..];
        for (var round = 0; round < Rounds; round++)
        {
            var results = await Task.WhenAll(callers.Select(c => Task.Run(() => _kit.CallAsync(c, callee))));

            var winner = Assert.Single(results, r => r.Ok);
            Assert.All(results.Where(r => !r.Ok), r =>
            {
                Assert.Equal(CallErrorCode.CallBusy, r.Error!.Code);
                Assert.Equal(CallStatus.Busy, r.Call!.Status);
            });
            var ringing = Assert.Single((await _kit.SnapshotAsync(callee)).Ringing);
            Assert.Equal(winner.Call!.SessionId, ringing.SessionId);
            await _kit.AssertConsistentAsync(users, results.Select(r => r.Call!.SessionId));
            foreach (var loser in callers.Where(c => c != winner.Call.Initiator.Uid))
            {
                Assert.Null((await _kit.SnapshotAsync(loser)).ActiveCall);
            }

            Assert.True((await _kit.Session(winner.Call.SessionId).RejectCall(callee, CallStatus.Rejected, null)).Ok);
        }
    }

    [Fact]
    public async Task Glare_joins_the_later_call_to_the_ringing_one()
    {
        var (a, b) = await _kit.CreatePairAsync();
        var probe = await _kit.WatchAsync(a, b);
        var first = await _kit.RingAsync(a, b);

        var second = await _kit.CallAsync(b, a, deviceId: "dev");

        Assert.True(second.Ok);
        Assert.Equal(first.SessionId, second.Call!.SessionId);
        Assert.Equal(CallStatus.Ongoing, second.Call.Status);
        await probe.WaitForAsync(a, 1);
        Assert.Equal(CallEventType.OutgoingCallAccepted, Assert.Single(probe.For(a)).Type);
        Assert.Equal(CallStatus.Ongoing, (await _kit.SnapshotAsync(a)).ActiveCall!.Status);
        Assert.Equal(first.SessionId, (await _kit.SnapshotAsync(b)).ActiveCall!.SessionId);
    }

    [Fact]
    public async Task Calling_each_other_at_once_connects_one_call()
    {
        var (a, b) = await _kit.CreatePairAsync();
        for (var round = 0; round < Rounds; round++)
        {
            var results = await Task.WhenAll(
                Task.Run(() => _kit.CallAsync(a, b)),
                Task.Run(() => _kit.CallAsync(b, a)));

            Assert.All(results, r => Assert.True(r.Ok, r.Error?.Message));
            Assert.Equal(results[0].Call!.SessionId, results[1].Call!.SessionId);
            var session = _kit.Session(results[0].Call!.SessionId);
            Assert.Equal(CallStatus.Ongoing, (await session.Peek())!.Status);
            await _kit.AssertConsistentAsync([a, b], [results[0].Call!.SessionId]);
            Assert.True((await session.EndCall(round % 2 == 0 ? a : b, null)).Ok);
            await _kit.AssertFreeAsync(a, b);
        }
    }
}
