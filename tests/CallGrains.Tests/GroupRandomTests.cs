using System.Collections.Concurrent;
using CallGrains.Abstractions;

namespace CallGrains.Tests;

/// <summary>
/// Random group and 1:1 requests from 12 users in two overlapping groups, sent in concurrent batches (so joins meet
/// leaves, accepts meet cancels, two members call the group at once). After every batch the invariants must hold over
/// every user and every call: one call per user, each user's slot agrees with the call (ringing, in it, or its
/// waiting initiator), every live call is held by everyone in it, a group has at most one live call and it is the
/// one the group names. Every answer is ok or a protocol error, never an internal one.
/// </summary>
[Collection(ClusterGroup.Name)]
public sealed class GroupRandomTests(ClusterFixture fixture)
{
    private const int Operations = 800;
    private static readonly string[] Kinds = ["callGroup", "callGroup", "callUser", "accept", "accept", "reject", "join", "join", "leave", "end", "cancel"];
    private readonly CallTestKit _kit = new(fixture.Cluster);

    [Theory]
    [InlineData(20261130)]
    [InlineData(11)]
    public async Task Random_group_and_one_to_one_requests_keep_every_party_consistent(int seed)
    {
        var rng = new Random(seed);
        var users = await _kit.CreateUsersAsync(12, "r");
        var groups = new Dictionary<string, string[]>
        {
            ["ga-" + users[0]] = users[..6],
            ["gb-" + users[0]] = users[4..10],
        };
        foreach (var (guid, members) in groups)
        {
            Assert.Equal(GroupOutcome.Done, (await _kit.Client.GetGrain<IGroupGrain>(guid).Create("Team", [.. members])).Outcome);
        }

        var sessions = new ConcurrentDictionary<string, CallInfo>();
        var outcomes = new ConcurrentDictionary<string, int>();
        for (var done = 0; done < Operations;)
        {
            var batch = Enumerable.Range(0, rng.Next(1, 5)).Select(_ => Next(rng, users, groups, sessions)).ToList();
            done += batch.Count;
            var results = await Task.WhenAll(batch.Select(op => Task.Run(() => RunAsync(op))));
            foreach (var result in results)
            {
                Assert.NotEqual(CallErrorCode.Internal, result.Error?.Code);
                outcomes.AddOrUpdate(result.Error?.Code.ToString() ?? "Ok", 1, (_, n) => n + 1);
                if (result.Call is { } call)
                {
                    // The newest view wins: a later transition has at least as many participants or a final status.
                    sessions.AddOrUpdate(call.SessionId, call, (_, old) => call.Status.IsFinal() || call.Participants.Length >= old.Participants.Length ? call : old);
                }
            }

            // A call once seen settled stays settled: only the others can be live.
            var maybeLive = sessions.Where(p => p.Value.Status.IsLive()).Select(p => p.Key);
            await _kit.AssertConsistentAsync(users, maybeLive, groups.Keys, $"seed {seed}, op {done}: {string.Join("; ", batch)}");
        }

        // The run did exercise the calls (about a quarter of the requests succeed; the rest are refusals, also checked).
        Assert.True(outcomes.GetValueOrDefault("Ok") > Operations / 8, string.Join(", ", outcomes));
        Assert.True(outcomes.GetValueOrDefault(nameof(CallErrorCode.CallBusy)) > 0, string.Join(", ", outcomes));

        // Everyone can be let go: the initiators end what is live, and nobody stays busy.
        foreach (var sessionId in sessions.Keys)
        {
            if (await _kit.Session(sessionId).Peek() is not { } call || call.Status.IsFinal())
            {
                continue;
            }

            if (!call.IsGroup)
            {
                Assert.True((await _kit.Session(sessionId).EndCall(call.Initiator.Uid, null)).Ok);
                continue;
            }

            // The initiator first (it cancels a call nobody joined); the last one out ends it.
            foreach (var p in call.Participants.Where(p => p.LeftAt is null))
            {
                Assert.True((await _kit.Session(sessionId).LeaveCall(p.Uid, null)).Ok);
            }

            Assert.True((await _kit.Session(sessionId).Peek())!.Status.IsFinal(), $"{sessionId} still live after everyone left");
        }

        await CallTestKit.EventuallyAsync(
            async () =>
            {
                foreach (var uid in users)
                {
                    var snap = await _kit.SnapshotAsync(uid);
                    if (snap.ActiveCall is not null || !snap.Ringing.IsEmpty)
                    {
                        return false;
                    }
                }

                return true;
            },
            "every user free");
    }

    private sealed record Op(string Kind, string Uid, string Target);

    private Task<CallResult> RunAsync(Op op)
    {
        var session = _kit.Session(op.Target);
        return op.Kind switch
        {
            "callGroup" => _kit.GroupCallAsync(op.Target, op.Uid),
            "callUser" => _kit.CallAsync(op.Uid, op.Target),
            "accept" => session.AcceptCall(op.Uid, null),
            "reject" => session.RejectCall(op.Uid, CallStatus.Rejected, null),
            "join" => session.JoinCall(op.Uid, null),
            "leave" => session.LeaveCall(op.Uid, null),
            "end" => session.EndCall(op.Uid, null),
            _ => session.RejectCall(op.Uid, CallStatus.Cancelled, null),
        };
    }

    /// <summary>
    /// The next request: mostly one that fits the call as last seen (a ringing member accepts or rejects, a member
    /// joins, someone in it leaves or ends), now and then anyone at all, so refusals are exercised too.
    /// </summary>
    private static Op Next(Random rng, string[] users, Dictionary<string, string[]> groups, ConcurrentDictionary<string, CallInfo> seen)
    {
        var kind = Kinds[rng.Next(Kinds.Length)];
        var anyone = users[rng.Next(users.Length)];
        var recent = seen.Values.Where(c => c.Status.IsLive()).ToList();
        if (kind == "callGroup" || recent.Count == 0)
        {
            var (guid, members) = groups.ElementAt(rng.Next(groups.Count));
            return new Op("callGroup", rng.Next(8) == 0 ? anyone : members[rng.Next(members.Length)], guid);
        }

        if (kind == "callUser")
        {
            return new Op(kind, anyone, users[rng.Next(users.Length)]);
        }

        var call = recent[rng.Next(recent.Count)];
        string[] fitting = kind switch
        {
            "accept" or "reject" => [.. call.Members.Where(m => m.Status == MemberStatus.Ringing).Select(m => m.Uid), .. call.IsGroup ? [] : new[] { call.ReceiverId }],
            "join" => call.IsGroup ? groups[call.ReceiverId] : [],
            "leave" => [.. call.Participants.Where(p => p.LeftAt is null).Select(p => p.Uid)],
            _ => [call.Initiator.Uid],
        };
        var uid = fitting.Length > 0 && rng.Next(5) > 0 ? fitting[rng.Next(fitting.Length)] : anyone;
        return new Op(kind, uid, call.SessionId);
    }
}
