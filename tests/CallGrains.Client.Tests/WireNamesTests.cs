using System.Reflection;
using System.Text.Json;
using CallGrains.Client.Internal;
using CallGrains.Gateway.Protocol;
using Server = CallGrains.Abstractions;

namespace CallGrains.Client.Tests;

/// <summary>Each enum's wire names exist once on each side of the wire: what the server writes, the SDK reads back as the same value.</summary>
public sealed class WireNamesTests
{
    [Fact]
    public void Every_call_status_the_server_writes_the_sdk_reads_as_the_same_status()
    {
        RoundTrips<Server.CallStatus, CallStatus>(WireNames.Name, status => ReadCall(ServerCall() with { Status = status }).Status, WireFormat.Name);
    }

    [Fact]
    public void Every_cancel_reason_the_server_writes_the_sdk_reads_as_the_same_reason()
    {
        RoundTrips<Server.CancelReason, CancelReason>(WireNames.Name, reason => WireFormat.ParseReason(reason.Name()), WireFormat.Name);
    }

    [Fact]
    public void Every_member_status_call_type_and_receiver_type_survives_a_call_object()
    {
        RoundTrips<Server.MemberStatus, MemberStatus>(WireNames.Name, status => ReadCall(ServerCall() with { Members = [new("bob", "Bob", status)] }).Members[0].Status);
        RoundTrips<Server.CallType, CallType>(WireNames.Name, type => ReadCall(ServerCall() with { CallType = type }).CallType, WireFormat.Name);
        RoundTrips<Server.ReceiverType, ReceiverType>(WireNames.Name, type => ReadCall(ServerCall() with { ReceiverType = type }).ReceiverType, WireFormat.Name);
    }

    [Fact]
    public void Every_direction_the_server_writes_the_sdk_reads_from_a_log_page()
    {
        RoundTrips<Server.CallDirection, CallDirection>(
            WireNames.Name,
            direction => WireFormat.ParseLogPage(Parse(Wire.Write(w =>
            {
                w.WriteStartObject();
                w.WriteStartArray("calls");
                Wire.WriteCall(w, ServerCall(), more => more.WriteString("direction", direction.Name()));
                w.WriteEndArray();
                w.WriteNull("next");
                w.WriteEndObject();
            }))).Calls[0].Direction,
            WireFormat.Name);
    }

    [Fact]
    public void Every_push_platform_the_server_reads_the_sdk_writes_and_reads_back()
    {
        RoundTrips<Server.PushPlatform, PushPlatform>(
            WireNames.Name,
            platform => WireFormat.ParsePlatform(WireFormat.Name(Enum.Parse<PushPlatform>(platform.ToString()))),
            WireFormat.Name);
        Assert.All(Enum.GetValues<PushPlatform>(), p => Assert.True(WireNames.TryParse(p.Name(), out Server.PushPlatform back) && back.ToString() == p.ToString(), p.ToString()));
    }

    [Fact]
    public void Every_webhook_delivery_status_the_server_writes_the_sdk_reads_as_the_same_status()
    {
        RoundTrips<Server.WebhookDeliveryStatus, WebhookDeliveryStatus>(WireNames.Name, status => WireFormat.ParseDeliveryStatus(status.Name()), WireFormat.Name);
    }

    [Fact]
    public void Every_error_code_is_spelled_as_the_sdk_constant_of_the_same_name()
    {
        var sdk = typeof(ErrorCodes).GetFields(BindingFlags.Public | BindingFlags.Static).ToDictionary(f => f.Name, f => (string?)f.GetValue(null));
        var codes = Enum.GetValues<Server.CallErrorCode>();
        Assert.Equal(codes.Length, codes.Select(WireNames.Name).Distinct(StringComparer.Ordinal).Count());
        Assert.All(codes, code => Assert.Equal(sdk[code.ToString()], code.Name()));
    }

    [Fact]
    public void Every_event_type_has_its_own_name_that_the_server_reads_back()
    {
        var types = Enum.GetValues<Server.CallEventType>();
        Assert.Equal(types.Length, types.Select(WireNames.Name).Distinct(StringComparer.Ordinal).Count());
        Assert.All(types, type => Assert.True(WireNames.TryParse(type.Name(), out Server.CallEventType back) && back == type, type.ToString()));
    }

    /// <summary>
    /// Every server value has a name of its own, and what the server writes for it the SDK reads as its value of the same
    /// name; where the SDK also writes the enum, it spells it as the server does.
    /// </summary>
    private static void RoundTrips<TServer, TSdk>(Func<TServer, string> name, Func<TServer, TSdk> throughWire, Func<TSdk, string>? sdkName = null)
        where TServer : struct, Enum
        where TSdk : struct, Enum
    {
        var values = Enum.GetValues<TServer>();
        Assert.Equal(values.Length, values.Select(name).Distinct(StringComparer.Ordinal).Count());
        foreach (var value in values)
        {
            var read = throughWire(value);
            Assert.Equal(value.ToString(), read.ToString());
            if (sdkName is not null)
            {
                Assert.Equal(name(value), sdkName(read));
            }
        }
    }

    private static CallInfo ReadCall(Server.CallInfo call) => WireFormat.ParseCall(Parse(Wire.Write(w => Wire.WriteCall(w, call))));

    private static JsonElement Parse(byte[] json) => JsonDocument.Parse(json).RootElement;

    private static Server.CallInfo ServerCall() => new()
    {
        SessionId = "s-1",
        CallType = Server.CallType.Audio,
        ReceiverType = Server.ReceiverType.Group,
        ReceiverId = "team",
        Initiator = new Server.UserRef("alice", "Alice"),
        Status = Server.CallStatus.Initiated,
        InitiatedAt = DateTimeOffset.UnixEpoch,
        Members = [new Server.CallMember("bob", "Bob", Server.MemberStatus.Ringing)],
    };
}
