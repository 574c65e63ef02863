using System.Text.Json;
using System.Text.Json.Nodes;
using CallGrains.Abstractions;
using CallGrains.Gateway.Protocol;

namespace CallGrains.Gateway.Tests;

/// <summary>
/// Events of group calls are written with the call's JSON made once and reused for every member's event: each event
/// must still be exactly the event PROTOCOL section 5 describes, whatever comes before and after the call in it.
/// </summary>
public sealed class WireTests
{
    private static readonly DateTimeOffset At = new(2026, 11, 30, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public void Every_member_gets_the_whole_group_call_in_its_event_with_its_own_seq_and_fields()
    {
        var call = Call(ReceiverType.Group, members: 100);
        var events = new[]
        {
            new CallEvent { Type = CallEventType.IncomingCallReceived, Seq = 7, Call = call },
            new CallEvent { Type = CallEventType.IncomingCallCanceled, Seq = 8, Call = call, Reason = CancelReason.AnsweredElsewhere },
            new CallEvent { Type = CallEventType.UserJoined, Seq = 1_000_000, Call = call, User = new UserRef("m3", "Member \"3\"") },
        };

        JsonNode? first = null;
        foreach (var evt in events)
        {
            var json = JsonNode.Parse(Wire.Event(evt))!.AsObject();
            Assert.Equal(evt.Type.Name(), (string?)json["event"]);
            Assert.Equal(evt.Seq, (long?)json["seq"]);
            var members = json["call"]!["members"]!.AsArray();
            Assert.Equal(100, members.Count);
            Assert.Equal("m99", (string?)members[99]!["uid"]);
            Assert.Equal("group", (string?)json["call"]!["receiverType"]);
            Assert.Equal(evt.Reason?.Name(), (string?)json["reason"]);
            Assert.Equal(evt.User?.Name, (string?)json["user"]?["name"]);
            string[] names = ["event", "seq", "call", .. evt.Reason is null ? [] : new[] { "reason" }, .. evt.User is null ? [] : new[] { "user" }];
            Assert.Equal(names, json.Select(p => p.Key));

            // The same call object in every event, byte for byte what a 1:1 event's call is written as.
            first ??= json["call"];
            Assert.True(JsonNode.DeepEquals(first, json["call"]));
        }

        var oneToOne = JsonNode.Parse(Wire.Event(new CallEvent { Type = CallEventType.IncomingCallReceived, Seq = 1, Call = call with { ReceiverType = ReceiverType.User } }))!;
        var expected = oneToOne["call"]!.DeepClone().AsObject();
        expected["receiverType"] = "group";
        var fromGroup = first!.DeepClone().AsObject();
        fromGroup.Remove("members");
        Assert.True(JsonNode.DeepEquals(expected, fromGroup));
    }

    [Fact]
    public void A_signal_and_an_event_without_a_call_are_unchanged()
    {
        var signal = JsonNode.Parse(Wire.Event(new CallEvent { Type = CallEventType.Signal, Seq = 3, From = "alice", Data = "{\"sdp\":\"x\"}" }))!;
        Assert.Equal("signal", (string?)signal["event"]);
        Assert.Null(signal["call"]);
        Assert.Equal("alice", (string?)signal["from"]);
        Assert.Equal("x", (string?)signal["data"]!["sdp"]);
        Assert.Equal(JsonValueKind.Null, JsonDocument.Parse(Wire.Event(new CallEvent { Type = CallEventType.Signal, Seq = 3 })).RootElement.GetProperty("call").ValueKind);
    }

    private static CallInfo Call(ReceiverType type, int members) => new()
    {
        SessionId = "s-1",
        CallType = CallType.Video,
        ReceiverType = type,
        ReceiverId = "team",
        Initiator = new UserRef("alice", "Alice"),
        Status = CallStatus.Initiated,
        InitiatedAt = At,
        Metadata = "{\"topic\":\"standup\"}",
        TimeoutSeconds = 45,
        Members = [.. Enumerable.Range(0, members).Select(i => new CallMember($"m{i}", $"Member {i}", MemberStatus.Ringing))],
    };
}
