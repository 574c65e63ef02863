using System.Globalization;
using System.Text.Json;
using CallGrains.Gateway.Tests;

namespace CallGrains.Cluster.Tests;

/// <summary>One broken invariant: the rule, what it is about (for telling a lasting breach from a passing one), and what was seen.</summary>
internal sealed record Violation(string Rule, string Subject, string Detail)
{
    public override string ToString() => $"({Rule}) {Detail}";
}

/// <summary>
/// The invariants the chaos test checks, as pure functions of what the sockets received and what the server holds.
///
/// (a) No user busy without a live call: a user's slot (activeCall, ringing) names a call that exists, is live
///     (initiated or ongoing), has the user as a party, and has no party gone longer than the bound (such a call is
///     dead in all but name: PROTOCOL 6 takes a user gone for the disconnect grace out of their call, which ends a
///     1:1 call). And every user whose slot is empty can be called (checked by calling them; in the test).
/// (b) Every call is settled, or live with its parties present: a live call with a party that has had no socket for
///     longer than the bound (disconnect grace + failure detection + 5 s) is a violation. One such party is enough
///     in a 1:1 call, since taking them out ends it.
/// (c) User and session agree: a slot shows its live call with the session's status and in the right place (ringing:
///     the callee's incoming call; activeCall: the caller's own ringing call or an ongoing call); a live session is
///     held by both its parties.
/// (d) A socket that saw a call live, and stayed open until 5 s after the call settled, was told how it ended: a
///     message naming the call with a final status (callEndedMessageReceived, outgoingCallRejected,
///     incomingCallCanceled per PROTOCOL 5, or the response to its own action, ok or an error carrying the call).
/// (e) Seq, from PROTOCOL 2 and 5: every event bumps the user's seq by one and goes to every device of the user but
///     the one whose action caused it, which gets the response instead, carrying the user's seq after the action.
///     So on one socket: events carry strictly increasing seq, all above the welcome's (no duplicate, no reorder);
///     and on a socket open to the end, every number from the welcome's seq + 1 up to the user's final seq arrives
///     as an event, except numbers explained by responses. A response to a call action (initiateCall: glare,
///     acceptCall, rejectCall, endCall) explains at most one number n (the action numbers at most one event for
///     its own user), with s &lt; n &lt;= r, where s is the highest seq the socket had received when it sent the
///     request and r the response's seq. sync, ping, signal and generateToken responses explain nothing: they number
///     no event for their own user, and a sync that papers over a lost event is still a lost event. One exception:
///     an acceptCall answered with no seq above s (the server could not number the answer for its own user in time)
///     explains one later number, since the device that answered is never told "answered elsewhere" of its answer.
/// (f) Webhooks (PROTOCOL 11): every call that settled reached the endpoint with the event of its final status, and
///     each call's events arrived in the order of its transitions: call.initiated first, the final one last (each
///     event counted at its first arrival; a repeat of an event may come later, PROTOCOL promises at least once).
/// </summary>
internal static class ChaosRules
{
    private static readonly HashSet<string> ActionOps = ["initiateCall", "acceptCall", "rejectCall", "endCall"];

    public static bool IsFinal(string status) => status is not ("initiated" or "ongoing");

    /// <summary>The calls a message carries: its call, and a welcome's or sync's activeCall and ringing.</summary>
    public static IEnumerable<JsonElement> CallsIn(Received message)
    {
        if (message.Call is { } call)
        {
            yield return call;
        }

        if (message.Event == "welcome" || message.Op == "sync")
        {
            if (message.Message.TryGetProperty("activeCall", out var active) && active.ValueKind == JsonValueKind.Object)
            {
                yield return active;
            }

            if (message.Message.TryGetProperty("ringing", out var ringing) && ringing.ValueKind == JsonValueKind.Array)
            {
                foreach (var r in ringing.EnumerateArray())
                {
                    yield return r;
                }
            }
        }
    }

    /// <summary>(a) slot side, (b) and (c), from every user's state and every call's, read through the admin API.</summary>
    public static List<Violation> StateViolations(
        IReadOnlyDictionary<string, JsonElement> states,
        IReadOnlyDictionary<string, JsonElement?> calls,
        Func<string, TimeSpan?> absentFor,
        TimeSpan bound)
    {
        var found = new List<Violation>();
        string? GoneParty(JsonElement call) =>
            Parties(call).FirstOrDefault(p => absentFor(p) is { } gone && gone > bound);
        string Gone(string uid) => $"{uid} has had no socket for {absentFor(uid)!.Value.TotalSeconds:F0} s (bound {bound.TotalSeconds:F0} s)";

        foreach (var (uid, state) in states)
        {
            var slots = Slots(state).ToList();
            if (slots.Count > 1)
            {
                found.Add(new("a", uid, $"{uid} holds {slots.Count} calls at once: {string.Join(", ", slots.Select(s => s.Call.Str("sessionId")))}"));
            }

            foreach (var (call, ringing) in slots)
            {
                var id = call.Str("sessionId");
                var server = calls.GetValueOrDefault(id);
                if (server is not { } session)
                {
                    found.Add(new("a", uid, $"{uid} is busy with call {id}, which does not exist"));
                    continue;
                }

                var status = session.Str("status");
                if (IsFinal(status))
                {
                    found.Add(new("a", uid, $"{uid} is busy with call {id}, which is {status} (settled at {Time(session, "endedAt")})"));
                }
                else if (!Parties(session).Contains(uid))
                {
                    found.Add(new("a", uid, $"{uid} is busy with call {id}, which is not theirs"));
                }
                else if (GoneParty(session) is { } gone)
                {
                    found.Add(new("a", uid, $"{uid} is busy with call {id} ({status}), but {Gone(gone)}"));
                }

                if (!IsFinal(status) && call.Str("status") != status)
                {
                    found.Add(new("c", uid, $"{uid}'s slot shows call {id} as {call.Str("status")}, the session says {status}"));
                }

                var isCaller = session.GetProperty("initiator").Str("uid") == uid;
                if (ringing ? isCaller || status != "initiated" : !isCaller && status == "initiated")
                {
                    found.Add(new("c", uid, $"{uid} holds call {id} ({status}, {(isCaller ? "caller" : "callee")}) as {(ringing ? "ringing" : "activeCall")}"));
                }
            }
        }

        foreach (var (id, server) in calls)
        {
            if (server is not { } session || IsFinal(session.Str("status")))
            {
                continue;
            }

            var status = session.Str("status");
            if (GoneParty(session) is { } gone)
            {
                found.Add(new("b", id, $"call {id} is still {status} ({string.Join(" - ", Parties(session))}), but {Gone(gone)}"));
            }

            foreach (var party in Parties(session).Where(states.ContainsKey))
            {
                var held = Slots(states[party]).Select(s => s.Call.Str("sessionId")).ToList();
                if (!held.Contains(id))
                {
                    found.Add(new("c", $"{id}/{party}", $"call {id} is {status} but its party {party} holds {(held.Count == 0 ? "nothing" : string.Join(", ", held))}"));
                }
            }
        }

        return found;
    }

    /// <summary>(d) for one socket: every call it saw live and that settled while it was open, it was told the end of.</summary>
    public static IEnumerable<Violation> FinalEventViolations(
        string uid, int socketNo, IReadOnlyList<Received> log, DateTime? closedAt, IReadOnlyDictionary<string, JsonElement?> calls)
    {
        var sawLive = new HashSet<string>();
        var toldEnd = new HashSet<string>();
        foreach (var call in log.SelectMany(CallsIn))
        {
            (IsFinal(call.Str("status")) ? toldEnd : sawLive).Add(call.Str("sessionId"));
        }

        foreach (var id in sawLive.Where(id => !toldEnd.Contains(id)))
        {
            if (calls.GetValueOrDefault(id) is not { } server || !IsFinal(server.Str("status")))
            {
                continue;
            }

            var endedAt = server.GetProperty("endedAt").ValueKind == JsonValueKind.Number
                ? DateTime.UnixEpoch.AddSeconds(server.GetProperty("endedAt").GetDouble())
                : DateTime.MaxValue;
            if (closedAt is { } closed && closed < endedAt.AddSeconds(5))
            {
                continue;
            }

            yield return new("d", $"{uid}#{socketNo}/{id}",
                $"{uid} socket #{socketNo} saw call {id} live, stayed open, and was never told it ended ({server.Str("status")} at {Time(server, "endedAt")})");
        }
    }

    /// <summary>(e) for one socket. <paramref name="finalSeq"/> is the user's seq at the end, for a socket still open then.</summary>
    public static IEnumerable<Violation> SeqViolations(string uid, int socketNo, IReadOnlyList<Received> log, long? finalSeq)
    {
        if (log.FirstOrDefault(m => m.Event == "welcome")?.Seq is not { } welcome)
        {
            yield break;
        }

        var events = log.Where(m => m.Event is not null and not "welcome" && m.Seq is not null).Select(m => m.Seq!.Value).ToList();
        var last = welcome;
        foreach (var seq in events)
        {
            if (seq <= last)
            {
                yield return new("e", $"{uid}#{socketNo}/dup{seq}", $"{uid} socket #{socketNo}: event seq {seq} after {last} (welcome {welcome}): duplicate or out of order");
            }

            last = Math.Max(last, seq);
        }

        if (finalSeq is not { } upper)
        {
            // A socket that dropped may have lost what was in flight: only order is checked on it.
            yield break;
        }

        var responses = log.Where(m => m.Op is { } op && ActionOps.Contains(op) && m.Seq is not null)
            .Select(m => (Low: Math.Max(m.SeqBefore ?? welcome, welcome), High: m.Seq!.Value, Op: m.Op!))
            .ToList();
        upper = Math.Max(upper, Math.Max(last, responses.Count == 0 ? 0 : responses.Max(r => r.High)));

        // An accept answered without its seq (the answering user could not be told in time) numbers its event later;
        // the device that answered is not told "answered elsewhere" (PROTOCOL 2 leaves it the gap, sync repairs it).
        var windows = responses.Select(r => r.Op == "acceptCall" && r.High <= r.Low ? (r.Low, High: upper) : (r.Low, r.High)).OrderBy(r => r.High).ToList();
        var missing = new SortedSet<long>();
        var seen = events.ToHashSet();
        for (var n = welcome + 1; n <= upper; n++)
        {
            if (!seen.Contains(n))
            {
                missing.Add(n);
            }
        }

        // Each response explains at most one number in its window; matching windows by their right end to the
        // smallest number they can take is the largest matching, so what is left is unexplained whatever the order.
        foreach (var (low, high) in windows)
        {
            if (high > low && missing.GetViewBetween(low + 1, high) is { Count: > 0 } window)
            {
                missing.Remove(window.Min);
            }
        }

        if (missing.Count > 0)
        {
            yield return new("e", $"{uid}#{socketNo}/gap",
                $"{uid} socket #{socketNo}: seq {string.Join(",", missing)} never arrived and no own action explains it (welcome {welcome}, events up to {last}, user's seq {finalSeq})");
        }
    }

    public static IEnumerable<string> Parties(JsonElement call) => [call.GetProperty("initiator").Str("uid"), call.Str("receiverId")];

    private static IEnumerable<(JsonElement Call, bool Ringing)> Slots(JsonElement state)
    {
        if (state.GetProperty("activeCall") is { ValueKind: JsonValueKind.Object } active)
        {
            yield return (active, false);
        }

        foreach (var ringing in state.GetProperty("ringing").EnumerateArray())
        {
            yield return (ringing, true);
        }
    }

    private static string Time(JsonElement call, string name) =>
        call.GetProperty(name).ValueKind == JsonValueKind.Number
            ? DateTime.UnixEpoch.AddSeconds(call.GetProperty(name).GetDouble()).ToString("HH:mm:ss.fff", CultureInfo.InvariantCulture)
            : "?";

    /// <summary>(f) for every call the server holds: its final event reached the endpoint, and its events came in order.</summary>
    public static IEnumerable<Violation> WebhookViolations(
        IReadOnlyDictionary<string, JsonElement?> calls, IReadOnlyList<(string WebhookId, string SessionId, string Type)> delivered)
    {
        var byCall = delivered.DistinctBy(d => d.WebhookId).GroupBy(d => d.SessionId).ToDictionary(g => g.Key, g => g.Select(d => d.Type).ToList());
        foreach (var (sessionId, call) in calls)
        {
            var types = byCall.GetValueOrDefault(sessionId) ?? [];
            if (call is { } settled && IsFinal(settled.Str("status")) && !types.Contains("call." + settled.Str("status")))
            {
                yield return new("f", sessionId + "/final", $"call {sessionId} settled {settled.Str("status")}, but the endpoint never got call.{settled.Str("status")} (got: {string.Join(", ", types)})");
                continue;
            }

            var final = call is { } c && IsFinal(c.Str("status")) ? types.IndexOf("call." + c.Str("status")) : -1;
            if (types.Count > 0 && (types[0] != "call.initiated" || (final >= 0 && final != types.Count - 1)))
            {
                yield return new("f", sessionId + "/order", $"call {sessionId}: events out of order at the endpoint: {string.Join(", ", types)}");
            }
        }
    }
}
