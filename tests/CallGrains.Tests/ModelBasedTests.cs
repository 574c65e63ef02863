using System.Collections.Concurrent;
using CallGrains.Abstractions;

namespace CallGrains.Tests;

/// <summary>
/// 5,000 random 1:1 and group requests from 20 users (three overlapping groups), sent in concurrent batches. Batches
/// whose requests touch disjoint users must match the reference model exactly (every answer, call status and user's
/// slot); batches that overlap are true races, after which the invariants must hold over every user, call and group,
/// and the model adopts what the cluster decided. At the end every user's events replay to their state.
/// </summary>
[Collection(ClusterGroup.Name)]
public sealed class ModelBasedTests(ClusterFixture fixture)
{
    private const int UserCount = 20;
    private const int Operations = 5_000;
    private const string Watcher = "watch";
    private const string Actor = "actor";

    private readonly CallTestKit _kit = new(fixture.Cluster);

    private static readonly string[] GroupKinds = ["accept", "accept", "reject", "join", "join", "leave", "end", "cancel"];

    private sealed record Op(string Kind, string Uid, string? Other, string SessionId, CallStatus Status = CallStatus.Rejected)
    {
        /// <summary>Every user whose slot the request may read or change: a group call may ring every member.</summary>
        public IEnumerable<string> Touches(ReferenceModel model) => Kind switch
        {
            "call" => [Uid, Other!],
            "callGroup" => [Uid, .. model.Groups[Other!]],
            _ => [Uid, .. model.Calls[SessionId].Parties],
        };
    }

    private sealed record Reply(string Uid, long Seq, long Order, CallResult Response, string Kind);

    [Theory]
    [InlineData(20261124)]
    [InlineData(7)]
    public async Task Random_requests_agree_with_the_reference_model(int seed)
    {
        var rng = new Random(seed);
        var users = await _kit.CreateUsersAsync(UserCount, "m");
        var probe = await _kit.WatchAsync(users.Select(u => (u, Watcher)).ToArray());
        var model = new ReferenceModel();
        foreach (var uid in users)
        {
            model.Users[uid] = null;
        }

        model.Groups["g1-" + users[0]] = users[..6];
        model.Groups["g2-" + users[0]] = users[4..11];
        model.Groups["g3-" + users[0]] = [users[12], users[15], users[19], users[2]];
        foreach (var (guid, members) in model.Groups)
        {
            Assert.Equal(GroupOutcome.Done, (await _kit.Client.GetGrain<IGroupGrain>(guid).Create("Team", [.. members])).Outcome);
        }

        var replies = new ConcurrentBag<Reply>();
        long order = 0;
        var done = 0;
        var exactBatches = 0;
        var racingBatches = 0;
        while (done < Operations)
        {
            var batch = Enumerable.Range(0, rng.Next(1, 5)).Select(_ => NextOp(rng, users, model)).ToList();
            done += batch.Count;
            var touched = batch.SelectMany(o => o.Touches(model)).ToList();
            var disjoint = touched.Distinct().Count() == touched.Count;
            var results = await Task.WhenAll(batch.Select(op => Task.Run(async () =>
            {
                var result = await RunAsync(op);
                replies.Add(new Reply(op.Uid, result.Seq, Interlocked.Increment(ref order), result, op.Kind));
                return result;
            })));

            var context = $"seed {seed}, op {done}";
            if (disjoint)
            {
                exactBatches++;
                for (var i = 0; i < batch.Count; i++)
                {
                    AssertMatches(Expect(model, batch[i]), results[i], $"{context}: {batch[i]}");
                }

                await AssertUsersMatchModelAsync(model, touched, context);
            }
            else
            {
                racingBatches++;
                await AdoptAsync(model, batch, results, touched);
            }

            await _kit.AssertConsistentAsync(touched.Distinct(), batch.Select(o => o.SessionId).Concat(model.Groups.Keys.Select(model.LiveCallOf).OfType<string>()), model.Groups.Keys, context);
        }

        Assert.True(exactBatches > 100 && racingBatches > 100, $"{exactBatches} exact and {racingBatches} racing batches");
        var groupCalls = model.Calls.Values.Where(c => c.Group is not null).ToList();
        Assert.True(groupCalls.Count(c => c.Status == CallStatus.Ended) > 20, $"{groupCalls.Count} group calls: {string.Join(", ", groupCalls.GroupBy(c => c.Status).Select(g => $"{g.Key} {g.Count()}"))}");

        // Every call that was ever live ends in exactly one final status, the one every party sees.
        await HangUpEverythingAsync(model, replies, () => Interlocked.Increment(ref order));
        foreach (var (sessionId, call) in model.Calls)
        {
            var actual = (await _kit.Session(sessionId).Peek())!;
            Assert.True(actual.Status.IsFinal(), $"{sessionId} is still {actual.Status}");
            Assert.Equal(call.Status, actual.Status);
        }

        await _kit.AssertConsistentAsync(users, model.Calls.Keys, model.Groups.Keys);
        await AssertEventsReplayAsync(users, probe, replies);
    }

    private static Op NextOp(Random rng, string[] users, ReferenceModel model)
    {
        var uid = users[rng.Next(users.Length)];
        var known = model.Calls.Keys.ToList();
        var live = model.Calls.Where(c => c.Value.Status.IsLive()).Select(c => c.Key).ToList();
        var roll = rng.Next(100);
        if (roll < 25 || known.Count == 0)
        {
            // Calls mostly go to someone else; now and then to oneself.
            var other = rng.Next(50) == 0 ? uid : users[rng.Next(users.Length)];
            return new Op("call", uid, other, Identifiers.NewSessionId());
        }

        if (roll < 35)
        {
            // Mostly a member calling their group; now and then someone who is not one.
            var (guid, members) = model.Groups.ElementAt(rng.Next(model.Groups.Count));
            return new Op("callGroup", rng.Next(10) == 0 ? uid : members[rng.Next(members.Length)], guid, Identifiers.NewSessionId());
        }

        // Most requests go to a live call by one of its parties; some to any call by anyone.
        var sessionId = live.Count > 0 && roll < 90 ? live[rng.Next(live.Count)] : known[rng.Next(known.Count)];
        var call = model.Calls[sessionId];
        if (call.Group is not null)
        {
            // A group call's party: its initiator or any member of the group (who may join it).
            var parties = model.Groups[call.Callee];
            var member = roll < 90 ? (rng.Next(3) == 0 ? call.Caller : parties[rng.Next(parties.Length)]) : uid;
            var kind = GroupKinds[rng.Next(GroupKinds.Length)];
            return new Op(kind, member, null, sessionId, kind == "cancel" ? CallStatus.Cancelled : CallStatus.Rejected);
        }

        var actor = roll < 90 ? (rng.Next(2) == 0 ? call.Caller : call.Callee) : uid;
        if (roll >= 97)
        {
            // Joining or leaving a 1:1 call is refused.
            return new Op(rng.Next(2) == 0 ? "join" : "leave", actor, null, sessionId);
        }

        return rng.Next(5) switch
        {
            0 or 1 => new Op("accept", actor, null, sessionId),
            2 => new Op("reject", actor, null, sessionId, rng.Next(3) == 0 ? CallStatus.Busy : CallStatus.Rejected),
            3 => new Op("cancel", actor, null, sessionId, CallStatus.Cancelled),
            _ => new Op("end", actor, null, sessionId),
        };
    }

    private Task<CallResult> RunAsync(Op op)
    {
        var session = _kit.Session(op.SessionId);
        return op.Kind switch
        {
            "call" => _kit.CallAsync(op.Uid, op.Other!, CallTestKit.LongTimeout * 3, Actor, op.SessionId),
            "callGroup" => session.InitiateCall(new InitiateRequest
            {
                CallerUid = op.Uid,
                ReceiverId = op.Other!,
                ReceiverType = ReceiverType.Group,
                CallType = CallType.Video,
                TimeoutSeconds = CallTestKit.LongTimeout * 3,
                DeviceId = Actor,
            }),
            "accept" => session.AcceptCall(op.Uid, Actor),
            "join" => session.JoinCall(op.Uid, Actor),
            "leave" => session.LeaveCall(op.Uid, Actor),
            "reject" or "cancel" => session.RejectCall(op.Uid, op.Status, Actor),
            _ => session.EndCall(op.Uid, Actor),
        };
    }

    private static ReferenceModel.Outcome Expect(ReferenceModel model, Op op) => op.Kind switch
    {
        "call" => model.Call(op.SessionId, op.Uid, op.Other!),
        "callGroup" => model.CallGroup(op.SessionId, op.Uid, op.Other!),
        "accept" => model.Accept(op.SessionId, op.Uid),
        "join" => model.Join(op.SessionId, op.Uid),
        "leave" => model.Leave(op.SessionId, op.Uid),
        "reject" or "cancel" => model.Reject(op.SessionId, op.Uid, op.Status),
        _ => model.End(op.SessionId, op.Uid),
    };

    private static void AssertMatches(ReferenceModel.Outcome expected, CallResult actual, string context)
    {
        Assert.True(expected.Error == actual.Error?.Code, $"{context}: expected {expected.Error?.ToString() ?? "ok"}, got {actual.Error?.Code.ToString() ?? "ok"} ({actual.Error?.Message})");
        if (expected.Status is { } status)
        {
            Assert.True(status == actual.Call?.Status, $"{context}: expected status {status}, got {actual.Call?.Status}");
            Assert.Equal(expected.SessionId, actual.Call!.SessionId);
        }
    }

    private async Task AssertUsersMatchModelAsync(ReferenceModel model, IEnumerable<string> uids, string context)
    {
        foreach (var uid in uids.Distinct())
        {
            var snap = await _kit.SnapshotAsync(uid);
            var held = snap.ActiveCall ?? snap.Ringing.SingleOrDefault();
            var expected = model.Users[uid];
            Assert.True(expected?.SessionId == held?.SessionId, $"{context}: {uid} holds {held?.SessionId ?? "nothing"}, model says {expected?.SessionId ?? "nothing"}");
            // In a call (not ringing for one, which a group call may do while it is ongoing).
            Assert.True((expected?.Ongoing ?? false) == (snap.ActiveCall?.Status == CallStatus.Ongoing), $"{context}: {uid} ongoing mismatch");
        }
    }

    /// <summary>After a real race the cluster picked a winner; the model takes the cluster's word for it.</summary>
    private async Task AdoptAsync(ReferenceModel model, List<Op> batch, CallResult[] results, List<string> touched)
    {
        for (var i = 0; i < batch.Count; i++)
        {
            if (batch[i].Kind is "call" or "callGroup" && results[i].Call is { } call && !model.Calls.ContainsKey(call.SessionId))
            {
                model.Calls[call.SessionId] = new ReferenceModel.ModelCall(call.Initiator.Uid, call.ReceiverId, call.Status, call.IsGroup ? call : null);
            }
        }

        foreach (var sessionId in batch.Select(o => o.SessionId).Where(model.Calls.ContainsKey).Distinct())
        {
            var actual = await _kit.Session(sessionId).Peek();
            Assert.True(actual is not null, $"{sessionId} ({model.Calls[sessionId]}) not found; batch {string.Join("; ", batch)}; results {string.Join("; ", results.Select(r => $"{r.Error?.Code} {r.Call?.SessionId} {r.Call?.Status}"))}");
            var before = model.Calls[sessionId].Status;
            Assert.False(before.IsFinal() && actual.Status != before, $"{sessionId} changed from final {before} to {actual.Status}");
            model.Calls[sessionId] = model.Calls[sessionId] with { Status = actual.Status, Group = actual.IsGroup ? actual : null };
        }

        foreach (var uid in touched.Distinct())
        {
            var snap = await _kit.SnapshotAsync(uid);
            var held = snap.ActiveCall ?? snap.Ringing.SingleOrDefault();
            model.Users[uid] = held is null ? null : new ReferenceModel.Slot(held.SessionId, snap.ActiveCall?.Status == CallStatus.Ongoing);
        }
    }

    private async Task HangUpEverythingAsync(ReferenceModel model, ConcurrentBag<Reply> replies, Func<long> nextOrder)
    {
        foreach (var (sessionId, call) in model.Calls.Where(c => c.Value.Status.IsLive()).ToList())
        {
            if (call.Group is { } group)
            {
                // Everyone in it leaves (the initiator of a call nobody joined cancels it); the last one out ends it.
                CallResult? last = null;
                foreach (var uid in group.Participants.Where(p => p.LeftAt is null).Select(p => p.Uid))
                {
                    last = await _kit.Session(sessionId).LeaveCall(uid, Actor);
                    Assert.True(last.Ok, last.Error?.Message);
                    replies.Add(new Reply(uid, last.Seq, nextOrder(), last, "leave"));
                }

                Assert.True(last?.Call?.Status.IsFinal(), $"{sessionId} still live after everyone left");
                model.Calls[sessionId] = call with { Status = last!.Call!.Status, Group = last.Call };
            }
            else
            {
                var result = await _kit.Session(sessionId).EndCall(call.Caller, Actor);
                Assert.True(result.Ok, result.Error?.Message);
                replies.Add(new Reply(call.Caller, result.Seq, nextOrder(), result, "end"));
                model.Calls[sessionId] = call with { Status = result.Call!.Status };
            }

            foreach (var uid in call.Parties.Where(u => model.Users[u]?.SessionId == sessionId))
            {
                model.Users[uid] = null;
            }
        }
    }

    /// <summary>
    /// What a client would rebuild from its events and its own responses, in seq order (at equal seq the event
    /// came first: a response carries the seq after its action), must be the state the user grain holds.
    /// </summary>
    private async Task AssertEventsReplayAsync(string[] users, EventProbe probe, ConcurrentBag<Reply> replies)
    {
        var expectedSeqs = new Dictionary<string, long>();
        foreach (var uid in users)
        {
            expectedSeqs[uid] = (await _kit.SnapshotAsync(uid)).Seq;
        }

        foreach (var uid in users)
        {
            await probe.WaitForAsync(uid, (int)expectedSeqs[uid], Watcher, 20_000);
            var events = probe.For(uid, Watcher);
            Assert.Equal(Enumerable.Range(1, events.Count).Select(i => (long)i), events.Select(e => e.Seq));

            var items = events.Select(e => (e.Seq, Kind: 0, Order: 0L, Apply: (Func<(string, bool)?, (string, bool)?>)(v => ApplyEvent(v, e, uid))))
                .Concat(replies.Where(r => r.Uid == uid && r.Response.Ok).Select(r => (r.Seq, Kind: 1, r.Order, Apply: (Func<(string, bool)?, (string, bool)?>)(v => ApplyReply(v, r)))))
                .OrderBy(i => i.Seq).ThenBy(i => i.Kind).ThenBy(i => i.Order);
            (string SessionId, bool Ongoing)? view = null;
            foreach (var item in items)
            {
                view = item.Apply(view);
            }

            Assert.True(view is null, $"{uid}'s events replay to {view?.SessionId}, but the user is free");
        }
    }

    private static (string, bool)? ApplyEvent((string SessionId, bool Ongoing)? view, CallEvent e, string uid)
    {
        var sessionId = e.Call!.SessionId;
        return e.Type switch
        {
            CallEventType.IncomingCallReceived => (sessionId, false),
            CallEventType.OutgoingCallAccepted => (sessionId, true),
            CallEventType.IncomingCallCanceled when e.Reason == CancelReason.AnsweredElsewhere => (sessionId, true),

            // Group calls: someone else joining or leaving changes nothing for this user; this user doing it on
            // another device puts them in the call or takes them out.
            CallEventType.UserJoined => e.User?.Uid == uid ? (sessionId, true) : view,
            CallEventType.UserLeft when e.User?.Uid != uid => view,
            _ => view?.SessionId == sessionId ? null : view,
        };
    }

    private static (string, bool)? ApplyReply((string SessionId, bool Ongoing)? view, Reply reply)
    {
        var call = reply.Response.Call!;
        return reply.Kind switch
        {
            "call" or "callGroup" or "accept" or "join" => (call.SessionId, call.Status == CallStatus.Ongoing),
            _ => view?.SessionId == call.SessionId ? null : view,
        };
    }
}
