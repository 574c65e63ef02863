using System.Text.Json;
using CallGrains.Gateway.Tests;

namespace CallGrains.Cluster.Tests;

/// <summary>The chaos test's invariants on hand-made logs and states: each rule passes what PROTOCOL allows and catches a breach.</summary>
public sealed class ChaosRulesTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(25);

    [Fact]
    public void A_gap_left_by_the_sockets_own_action_is_explained_by_its_response()
    {
        List<Received> log =
        [
            Message("""{"event":"welcome","seq":3,"activeCall":null,"ringing":[]}"""),
            Message("""{"event":"incomingCallReceived","seq":4,"call":{}}"""),
            Message("""{"id":"r1","ok":true,"seq":5}""", "acceptCall", seqBefore: 4),
            Message("""{"event":"callEndedMessageReceived","seq":6,"call":{}}"""),
        ];

        Assert.Empty(ChaosRules.SeqViolations("u", 1, log, finalSeq: 6));
    }

    [Fact]
    public void A_missing_event_a_duplicate_and_a_gap_only_a_sync_covers_are_violations()
    {
        List<Received> gap =
        [
            Message("""{"event":"welcome","seq":0,"activeCall":null,"ringing":[]}"""),
            Message("""{"event":"incomingCallReceived","seq":1,"call":{}}"""),
            Message("""{"id":"r1","ok":true,"seq":3,"activeCall":null,"ringing":[]}""", "sync", seqBefore: 1),
            Message("""{"event":"incomingCallReceived","seq":4,"call":{}}"""),
        ];
        List<Received> duplicate =
        [
            Message("""{"event":"welcome","seq":0,"activeCall":null,"ringing":[]}"""),
            Message("""{"event":"incomingCallReceived","seq":1,"call":{}}"""),
            Message("""{"event":"incomingCallReceived","seq":1,"call":{}}"""),
        ];

        var missing = Assert.Single(ChaosRules.SeqViolations("u", 1, gap, finalSeq: 4));
        Assert.Contains("seq 2,3 never arrived", missing.Detail, StringComparison.Ordinal);
        Assert.Single(ChaosRules.SeqViolations("u", 1, duplicate, finalSeq: null));
        Assert.Contains("seq 2 never arrived", Assert.Single(ChaosRules.SeqViolations("u", 1, duplicate[..2], finalSeq: 2)).Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void A_socket_that_saw_a_call_live_must_be_told_how_it_ended_while_it_stays_open()
    {
        var ended = Calls(Call("x", "cancelled", "a", "b", endedAt: 1000));
        List<Received> rang = [Message("""{"event":"incomingCallReceived","seq":1,"call":""" + CallJson("x", "initiated", "a", "b") + "}")];
        List<Received> told = [.. rang, Message("""{"event":"incomingCallCanceled","seq":2,"reason":"cancelled","call":""" + CallJson("x", "cancelled", "a", "b") + "}")];

        Assert.Single(ChaosRules.FinalEventViolations("b", 1, rang, closedAt: null, ended));
        Assert.Empty(ChaosRules.FinalEventViolations("b", 1, told, closedAt: null, ended));
        Assert.Empty(ChaosRules.FinalEventViolations("b", 1, rang, closedAt: DateTime.UnixEpoch.AddSeconds(1002), ended));
    }

    [Fact]
    public void Busy_users_need_a_live_call_with_present_parties_that_both_hold_it()
    {
        var ghost = Call("g", "ongoing", "a", "gone");
        var states = new Dictionary<string, JsonElement>
        {
            ["a"] = State(ghost, ringing: null),
            ["gone"] = State(ghost, ringing: null),
            ["c"] = State(Call("s", "ongoing", "c", "d"), ringing: null),
            ["d"] = State(null, ringing: null),
            ["e"] = State(null, ringing: Call("live", "initiated", "f", "e")),
            ["f"] = State(Call("live", "initiated", "f", "e"), ringing: null),
        };
        var calls = Calls(ghost, Call("s", "ended", "c", "d", endedAt: 1000), Call("live", "initiated", "f", "e"));

        var found = ChaosRules.StateViolations(states, calls, uid => uid == "gone" ? TimeSpan.FromSeconds(60) : null, Bound);

        Assert.Equal(["a:a", "a:c", "a:gone", "b:g"], found.Select(v => $"{v.Rule}:{v.Subject}").Order());
    }

    private static Received Message(string json, string? op = null, long? seqBefore = null)
    {
        using var doc = JsonDocument.Parse(json);
        return new Received(DateTime.UtcNow, doc.RootElement.Clone(), op, seqBefore);
    }

    private static string CallJson(string id, string status, string caller, string callee, double? endedAt = null) =>
        $$"""{"sessionId":"{{id}}","status":"{{status}}","initiator":{"uid":"{{caller}}","name":"{{caller}}"},"receiverId":"{{callee}}","endedAt":{{(endedAt is { } e ? e.ToString(System.Globalization.CultureInfo.InvariantCulture) : "null")}}}""";

    private static JsonElement Call(string id, string status, string caller, string callee, double? endedAt = null)
    {
        using var doc = JsonDocument.Parse(CallJson(id, status, caller, callee, endedAt));
        return doc.RootElement.Clone();
    }

    private static Dictionary<string, JsonElement?> Calls(params JsonElement[] calls) => calls.ToDictionary(c => c.Str("sessionId"), c => (JsonElement?)c);

    private static JsonElement State(JsonElement? active, JsonElement? ringing)
    {
        var json = $$"""{"activeCall":{{(active is { } a ? a.GetRawText() : "null")}},"ringing":[{{(ringing is { } r ? r.GetRawText() : "")}}]}""";
        using var doc = JsonDocument.Parse(json);
        return doc.RootElement.Clone();
    }

    [Fact]
    public void Webhooks_pass_in_order_and_catch_a_missing_final_event_and_a_reorder()
    {
        static JsonElement? Call(string status) => JsonDocument.Parse($$"""{"sessionId":"x","status":"{{status}}"}""").RootElement.Clone();
        var calls = new Dictionary<string, JsonElement?> { ["s1"] = Call("ended"), ["s2"] = Call("busy"), ["s3"] = Call("ongoing"), ["gone"] = null };
        List<(string, string, string)> good =
        [
            ("w1", "s1", "call.initiated"), ("w2", "s2", "call.initiated"), ("w3", "s1", "call.accepted"), ("w4", "s2", "call.busy"),
            ("w5", "s1", "call.ended"), ("w1", "s1", "call.initiated"), ("w6", "s3", "call.initiated"),
        ];
        Assert.Empty(ChaosRules.WebhookViolations(calls, good));

        var missing = Assert.Single(ChaosRules.WebhookViolations(calls, good.Where(d => d.Item1 != "w4").ToList()));
        Assert.Contains("settled busy, but the endpoint never got call.busy", missing.Detail, StringComparison.Ordinal);
        List<(string, string, string)> reordered = [("w5", "s1", "call.ended"), .. good];
        var late = Assert.Single(ChaosRules.WebhookViolations(calls, reordered));
        Assert.Contains("call s1: events out of order at the endpoint: call.ended, call.initiated, call.accepted", late.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void An_accept_answered_without_its_seq_explains_one_later_number_and_no_other_action_does()
    {
        List<Received> accepted =
        [
            Message("""{"event":"welcome","seq":3,"activeCall":null,"ringing":[]}"""),
            Message("""{"event":"incomingCallReceived","seq":4,"call":{}}"""),
            Message("""{"id":"r1","ok":true,"seq":4}""", "acceptCall", seqBefore: 4),
            Message("""{"event":"callEndedMessageReceived","seq":6,"call":{}}"""),
        ];
        List<Received> ended = [.. accepted[..2], Message("""{"id":"r1","ok":true,"seq":4}""", "endCall", seqBefore: 4), accepted[3]];

        Assert.Empty(ChaosRules.SeqViolations("u", 1, accepted, finalSeq: 6));
        Assert.Contains("seq 5 never arrived", Assert.Single(ChaosRules.SeqViolations("u", 1, ended, finalSeq: 6)).Detail, StringComparison.Ordinal);
        Assert.Contains("seq 6 never arrived", Assert.Single(ChaosRules.SeqViolations("u", 1, accepted[..3], finalSeq: 6)).Detail, StringComparison.Ordinal);
    }
}
