using System.Text;
using System.Text.Json;
using CallGrains.Abstractions;
using CallGrains.Gateway.Protocol;
using CallGrains.Grains.Push;

namespace CallGrains.Tests.Push;

/// <summary>
/// What a phone with no open socket is pushed, end to end (PROTOCOL section 10): a call's transitions owe pushes, the
/// silo's dispatcher asks the user where to send them and sends them through the providers to the emulators.
/// </summary>
[Collection(PushGroup.Name)]
public sealed class PushDeliveryTests(PushFixture fixture)
{
    private readonly CallTestKit _kit = fixture.Kit;

    [Fact]
    public async Task A_callee_with_only_a_voip_token_is_rung_by_a_voip_push_and_the_callers_cancel_is_pushed_too()
    {
        var (a, b) = await _kit.CreatePairAsync();
        var voip = ApnsTestKit.NewDeviceToken();
        await _kit.User(b).SetPushToken("iphone", PushPlatform.ApnsVoip, voip);

        var call = await _kit.RingAsync(a, b);
        var ring = (await fixture.WaitApnsAsync(voip, 1))[0];
        Assert.Equal("voip", ring.Headers["apns-push-type"]);
        Assert.Equal(ApnsTestKit.Topic + ".voip", ring.Headers["apns-topic"]);
        Assert.Equal("10", ring.Headers["apns-priority"]);
        Assert.Equal(PushDispatcher.PushId(call.SessionId, "iphone", PushKind.Ring).ToString("D"), ring.Headers["apns-id"]);
        Assert.Equal("incomingCallReceived", Event(ring));
        Assert.Equal(call.SessionId, ring.Payload.GetProperty("callgrains").GetProperty("call").GetProperty("sessionId").GetString());
        Assert.Equal("initiated", ring.Payload.GetProperty("callgrains").GetProperty("call").GetProperty("status").GetString());
        Assert.False(ring.Payload.GetProperty("callgrains").GetProperty("call").TryGetProperty("truncated", out _), "a small call goes whole");

        Assert.True((await _kit.Session(call.SessionId).RejectCall(a, CallStatus.Cancelled, null)).Ok);
        var cancel = (await fixture.WaitApnsAsync(voip, 2))[1];
        Assert.Equal("voip", cancel.Headers["apns-push-type"]);
        Assert.Equal("incomingCallCanceled", Event(cancel));
        Assert.Equal("cancelled", cancel.Payload.GetProperty("callgrains").GetProperty("reason").GetString());
        Assert.Equal(PushDispatcher.PushId(call.SessionId, "iphone", PushKind.Cancel).ToString("D"), cancel.Headers["apns-id"]);
        Assert.Equal(ring.Headers["apns-collapse-id"], cancel.Headers["apns-collapse-id"]);

        // A PushKit token takes calls only: the missed call is not pushed to it, and the call leaves once its pushes are done.
        await _kit.EventuallyFreeAsync(a, b);
        await SessionGoneAsync(call.SessionId);
        Assert.Equal(2, fixture.ApnsPushes(voip).Length);
    }

    [Fact]
    public async Task An_unanswered_call_cancels_every_pushed_device_and_alerts_the_ones_that_show_alerts()
    {
        var (a, b) = await _kit.CreatePairAsync();
        var (voip, alert, fcm) = (ApnsTestKit.NewDeviceToken(), ApnsTestKit.NewDeviceToken(), $"fcm-{Guid.NewGuid():N}");
        await _kit.User(b).SetPushToken("iphone", PushPlatform.ApnsVoip, voip);
        await _kit.User(b).SetPushToken("ipad", PushPlatform.Apns, alert);
        await _kit.User(b).SetPushToken("pixel", PushPlatform.Fcm, fcm);

        var call = await _kit.RingAsync(a, b, timeoutSeconds: 5);

        // The iPad has no PushKit token: it is rung by an alert.
        var ipadRing = (await fixture.WaitApnsAsync(alert, 1))[0];
        Assert.Equal("alert", ipadRing.Headers["apns-push-type"]);
        Assert.Equal("Incoming audio call", ipadRing.Payload.GetProperty("aps").GetProperty("alert").GetProperty("title").GetString());
        Assert.StartsWith("from User ", ipadRing.Payload.GetProperty("aps").GetProperty("alert").GetProperty("body").GetString());
        var pixelRing = (await fixture.WaitFcmAsync(fcm, 1))[0];
        Assert.Equal("incomingCallReceived", pixelRing.GetProperty("data").GetProperty("event").GetString());
        Assert.Equal("high", pixelRing.GetProperty("android").GetProperty("priority").GetString());
        Assert.Equal(call.SessionId, pixelRing.GetProperty("data").GetProperty("sessionId").GetString());
        Assert.Equal(PushDispatcher.PushId(call.SessionId, "pixel", PushKind.Ring).ToString("D"), pixelRing.GetProperty("data").GetProperty("pushId").GetString());

        // Unanswered: each device that was rung is told it stopped, then the missed call is an alert where alerts show.
        var iphone = await fixture.WaitApnsAsync(voip, 2);
        Assert.Equal(["incomingCallReceived", "incomingCallCanceled"], iphone.Select(Event));
        Assert.Equal("unanswered", iphone[1].Payload.GetProperty("callgrains").GetProperty("reason").GetString());

        var ipad = await fixture.WaitApnsAsync(alert, 3);
        Assert.Equal(["incomingCallReceived", "incomingCallCanceled", "callMissed"], ipad.Select(Event));
        Assert.Equal("background", ipad[1].Headers["apns-push-type"]);
        Assert.Equal("alert", ipad[2].Headers["apns-push-type"]);
        Assert.Equal("Missed audio call from User " + a, ipad[2].Payload.GetProperty("aps").GetProperty("alert").GetProperty("title").GetString());

        var pixel = await fixture.WaitFcmAsync(fcm, 3);
        Assert.Equal(["incomingCallReceived", "incomingCallCanceled", "callMissed"], pixel.Select(m => m.GetProperty("data").GetProperty("event").GetString()));
        Assert.Equal("unanswered", pixel[1].GetProperty("data").GetProperty("reason").GetString());
        Assert.Equal("Missed audio call from User " + a, pixel[2].GetProperty("notification").GetProperty("title").GetString());
        Assert.Equal("unanswered", JsonDocument.Parse(pixel[2].GetProperty("data").GetProperty("call").GetString()!).RootElement.GetProperty("status").GetString());
        await SessionGoneAsync(call.SessionId);
    }

    [Fact]
    public async Task A_device_with_an_open_socket_is_not_pushed_and_answering_there_cancels_the_pushed_ones()
    {
        var (a, b) = await _kit.CreatePairAsync();
        var (onSocket, asleep) = (ApnsTestKit.NewDeviceToken(), ApnsTestKit.NewDeviceToken());
        await _kit.User(b).SetPushToken("iphone", PushPlatform.ApnsVoip, onSocket);
        await _kit.User(b).SetPushToken("ipad", PushPlatform.ApnsVoip, asleep);
        var probe = await _kit.WatchAsync((b, "iphone"));

        var call = await _kit.RingAsync(a, b);
        await probe.WaitForAsync(b, 1, "iphone");
        Assert.Equal(CallEventType.IncomingCallReceived, probe.For(b, "iphone")[0].Type);
        Assert.Equal("incomingCallReceived", Event((await fixture.WaitApnsAsync(asleep, 1))[0]));

        Assert.True((await _kit.Session(call.SessionId).AcceptCall(b, "iphone")).Ok);
        var ipad = await fixture.WaitApnsAsync(asleep, 2);
        Assert.Equal("answeredElsewhere", ipad[1].Payload.GetProperty("callgrains").GetProperty("reason").GetString());
        Assert.Equal("ongoing", ipad[1].Payload.GetProperty("callgrains").GetProperty("call").GetProperty("status").GetString());

        await _kit.EndAsync(call.SessionId, a);
        await SessionGoneAsync(call.SessionId);
        Assert.Empty(fixture.ApnsPushes(onSocket));
        Assert.Equal(2, fixture.ApnsPushes(asleep).Length);
    }

    [Fact]
    public async Task A_device_whose_socket_goes_while_it_rings_is_pushed_the_ring_then_its_cancel_and_a_device_gone_after_the_ring_is_not()
    {
        var (a, b) = await _kit.CreatePairAsync();
        var (phone, tablet) = (ApnsTestKit.NewDeviceToken(), ApnsTestKit.NewDeviceToken());
        await _kit.User(b).SetPushToken("iphone", PushPlatform.ApnsVoip, phone);
        await _kit.User(b).SetPushToken("ipad", PushPlatform.ApnsVoip, tablet);
        var probe = await _kit.WatchAsync((b, "iphone"), (b, "ipad"));

        // Rung on both sockets, so pushed to neither; then the phone's app goes to the background (its socket closes).
        var call = await _kit.RingAsync(a, b);
        await probe.WaitForAsync(b, 1, "iphone");
        await _kit.User(b).UnregisterDevice("iphone", probe.GatewayId, probe.Epochs[(b, "iphone")]);
        var ring = (await fixture.WaitApnsAsync(phone, 1))[0];
        Assert.Equal("incomingCallReceived", Event(ring));
        Assert.Equal(PushDispatcher.PushId(call.SessionId, "iphone", PushKind.Ring).ToString("D"), ring.Headers["apns-id"]);
        Assert.Equal(call.SessionId, Call(ring).GetProperty("sessionId").GetString());

        // The caller hangs up: the phone that rang by push is told by push; the tablet, still on its socket, by its socket.
        Assert.True((await _kit.Session(call.SessionId).RejectCall(a, CallStatus.Cancelled, null)).Ok);
        var cancel = (await fixture.WaitApnsAsync(phone, 2))[1];
        Assert.Equal("incomingCallCanceled", Event(cancel));
        await SessionGoneAsync(call.SessionId);

        // The tablet's socket goes after the ring ended: nothing is pushed.
        await _kit.User(b).UnregisterDevice("ipad", probe.GatewayId, probe.Epochs[(b, "ipad")]);
        await _kit.EventuallyFreeAsync(a, b);
        await Task.Delay(TimeSpan.FromSeconds(1));
        Assert.Empty(fixture.ApnsPushes(tablet));
        Assert.Equal(2, fixture.ApnsPushes(phone).Length);
    }

    [Fact]
    public async Task Declining_on_one_device_cancels_the_ring_on_the_pushed_ones_and_a_decline_is_not_a_missed_call()
    {
        var (a, b) = await _kit.CreatePairAsync();
        var (tablet, alerts) = (ApnsTestKit.NewDeviceToken(), ApnsTestKit.NewDeviceToken());
        await _kit.User(b).SetPushToken("ipad", PushPlatform.ApnsVoip, tablet);
        await _kit.User(b).SetPushToken("iphone", PushPlatform.Apns, alerts);
        var probe = await _kit.WatchAsync((b, "iphone"));

        var call = await _kit.RingAsync(a, b);
        await probe.WaitForAsync(b, 1, "iphone");
        await fixture.WaitApnsAsync(tablet, 1);
        Assert.True((await _kit.Session(call.SessionId).RejectCall(b, CallStatus.Rejected, "iphone")).Ok);

        var ipad = await fixture.WaitApnsAsync(tablet, 2);
        Assert.Equal("rejectedElsewhere", ipad[1].Payload.GetProperty("callgrains").GetProperty("reason").GetString());
        await SessionGoneAsync(call.SessionId);
        Assert.Empty(fixture.ApnsPushes(alerts));
    }

    [Fact]
    public async Task A_call_refused_as_busy_is_a_missed_call_alert_for_the_busy_user()
    {
        var (a, b) = await _kit.CreatePairAsync();
        var c = (await _kit.CreateUsersAsync(1, "busy"))[0];
        var alerts = ApnsTestKit.NewDeviceToken();
        await _kit.User(b).SetPushToken("iphone", PushPlatform.Apns, alerts);
        var ongoing = await _kit.ConnectAsync(c, b);

        var busy = await _kit.CallAsync(a, b);
        Assert.Equal(CallErrorCode.CallBusy, busy.Error?.Code);
        // The iPhone showed c's ring as an alert; a's attempt, refused as busy, is a missed call.
        await CallTestKit.EventuallyAsync(() => Task.FromResult(fixture.ApnsPushes(alerts).Any(p => Event(p) == "callMissed")), "the missed-call alert");
        var missed = fixture.ApnsPushes(alerts).Single(p => Event(p) == "callMissed");
        Assert.Equal(busy.Call!.SessionId, missed.Payload.GetProperty("callgrains").GetProperty("call").GetProperty("sessionId").GetString());
        Assert.Equal("busy", missed.Payload.GetProperty("callgrains").GetProperty("call").GetProperty("status").GetString());
        await SessionGoneAsync(busy.Call!.SessionId);
        await _kit.EndAsync(ongoing.SessionId, c);
    }

    [Fact]
    public async Task Tokens_the_providers_call_gone_are_removed_and_the_others_stay()
    {
        var (a, b) = await _kit.CreatePairAsync();
        var (gone, fcmGone) = (ApnsTestKit.NewDeviceToken(), $"fcm-{Guid.NewGuid():N}");
        await _kit.User(b).SetPushToken("old-iphone", PushPlatform.ApnsVoip, gone);
        await _kit.User(b).SetPushToken("old-pixel", PushPlatform.Fcm, fcmGone);

        // Both providers say the token is no longer valid on its first push.
        fixture.Apns.Script(ApnsAnswer.Error(410, "Unregistered"));
        fixture.Fcm.Enqueue(FcmAnswer.Unregistered);
        var call = await _kit.RingAsync(a, b);

        await CallTestKit.EventuallyAsync(async () => (await _kit.User(b).GetPushTokens())!.Value.IsEmpty, "both gone tokens removed");
        Assert.Empty(fixture.ApnsPushes(gone));
        Assert.Null(await _kit.Client.GetGrain<IPushTokenGrain>(PushTokens.IndexKey(PushPlatform.ApnsVoip, gone)).GetOwner());
        Assert.True((await _kit.Session(call.SessionId).RejectCall(a, CallStatus.Cancelled, null)).Ok);
        await SessionGoneAsync(call.SessionId);
    }

    [Fact]
    public async Task A_token_apns_calls_not_for_the_topic_is_kept_so_fixing_the_topic_setting_brings_the_phone_back()
    {
        var (a, b) = await _kit.CreatePairAsync();
        var token = ApnsTestKit.NewDeviceToken();
        await _kit.User(b).SetPushToken("iphone", PushPlatform.ApnsVoip, token);

        fixture.Apns.Script(ApnsAnswer.Error(400, "DeviceTokenNotForTopic"));
        var refused = await _kit.RingAsync(a, b);
        Assert.True((await _kit.Session(refused.SessionId).RejectCall(a, CallStatus.Cancelled, null)).Ok);
        await SessionGoneAsync(refused.SessionId);
        Assert.DoesNotContain(fixture.ApnsPushes(token), p => Event(p) == "incomingCallReceived");
        Assert.Equal(token, Assert.Single((await _kit.User(b).GetPushTokens())!.Value).Token);

        var before = fixture.ApnsPushes(token).Length;
        var call = await _kit.RingAsync(a, b);
        Assert.Equal("incomingCallReceived", Event((await fixture.WaitApnsAsync(token, before + 1))[before]));
        Assert.True((await _kit.Session(call.SessionId).RejectCall(a, CallStatus.Cancelled, null)).Ok);
        await SessionGoneAsync(call.SessionId);
    }

    [Fact]
    public async Task A_ring_push_waiting_to_retry_is_never_sent_once_the_ring_ended()
    {
        var (a, b) = await _kit.CreatePairAsync();
        var voip = ApnsTestKit.NewDeviceToken();
        await _kit.User(b).SetPushToken("iphone", PushPlatform.ApnsVoip, voip);

        // APNs is overloaded and asks for a minute's pause; the caller gives up meanwhile.
        fixture.Apns.Script(ApnsAnswer.Error(429, "TooManyRequests", TimeSpan.FromSeconds(20)));
        var requests = fixture.Apns.Requests;
        var call = await _kit.RingAsync(a, b);
        await CallTestKit.EventuallyAsync(() => Task.FromResult(fixture.Apns.Requests > requests), "the ring push's first attempt");
        Assert.True((await _kit.Session(call.SessionId).RejectCall(a, CallStatus.Cancelled, null)).Ok);

        // The cancel is pushed (the ring may have reached the phone), the ring is not tried again, the call leaves.
        var pushes = await fixture.WaitApnsAsync(voip, 1);
        Assert.Equal("incomingCallCanceled", Event(pushes[0]));
        await SessionGoneAsync(call.SessionId);
        Assert.DoesNotContain(fixture.ApnsPushes(voip), p => Event(p) == "incomingCallReceived");
    }

    [Fact]
    public async Task A_provider_that_hangs_does_not_hold_up_ringing_on_sockets()
    {
        var (a, b) = await _kit.CreatePairAsync();
        var (c, d) = await _kit.CreatePairAsync();
        await _kit.User(b).SetPushToken("iphone", PushPlatform.ApnsVoip, ApnsTestKit.NewDeviceToken());
        var probe = await _kit.WatchAsync((b, "pixel"), (d, "laptop"));

        // The ring push hangs at APNs; the initiate answers and the socket rings anyway, and other calls go on.
        fixture.Apns.Script(ApnsAnswer.Hang);
        var hung = fixture.Apns.Hanging.Task;
        var call = await _kit.RingAsync(a, b).WaitAsync(TimeSpan.FromSeconds(30));
        await probe.WaitForAsync(b, 1, "pixel");
        await hung.WaitAsync(TimeSpan.FromSeconds(30));
        var other = await _kit.RingAsync(c, d).WaitAsync(TimeSpan.FromSeconds(30));
        await probe.WaitForAsync(d, 1, "laptop");
        Assert.Equal(CallStatus.Initiated, other.Status);

        Assert.True((await _kit.Session(call.SessionId).RejectCall(a, CallStatus.Cancelled, null)).Ok);
        Assert.True((await _kit.Session(other.SessionId).RejectCall(c, CallStatus.Cancelled, null)).Ok);
        await _kit.EventuallyFreeAsync(a, b, c, d);

        // The hung attempt times out, is not tried again (its ring ended), and the cancel follows it.
        await SessionGoneAsync(call.SessionId);
    }

    [Fact]
    public async Task A_group_call_rings_every_member_by_push_and_cancels_them_when_the_initiator_hangs_up()
    {
        var uids = await _kit.CreateUsersAsync(4, "gp");
        var tokens = uids[1..].ToDictionary(u => u, _ => ApnsTestKit.NewDeviceToken());
        foreach (var (uid, token) in tokens)
        {
            await _kit.User(uid).SetPushToken("phone", PushPlatform.ApnsVoip, token);
        }

        var groupId = $"g-{Guid.NewGuid():N}";
        Assert.Equal(GroupOutcome.Done, (await _kit.Client.GetGrain<IGroupGrain>(groupId).Create("Team", [.. uids])).Outcome);
        var started = await _kit.GroupCallAsync(groupId, uids[0]);
        Assert.True(started.Ok, started.Error?.Message);
        foreach (var token in tokens.Values)
        {
            var ring = (await fixture.WaitApnsAsync(token, 1))[0];
            Assert.Equal("incomingCallReceived", Event(ring));
            Assert.Equal("group", ring.Payload.GetProperty("callgrains").GetProperty("call").GetProperty("receiverType").GetString());
        }

        Assert.True((await _kit.Session(started.Call!.SessionId).EndCall(uids[0], null)).Ok);
        foreach (var token in tokens.Values)
        {
            var pushes = await fixture.WaitApnsAsync(token, 2);
            Assert.Equal("incomingCallCanceled", Event(pushes[1]));
            Assert.Equal("cancelled", pushes[1].Payload.GetProperty("callgrains").GetProperty("reason").GetString());
        }

        await SessionGoneAsync(started.Call.SessionId);
    }

    [Fact]
    public async Task A_group_call_too_big_for_a_push_rings_every_pushed_phone_with_the_call_cut_to_fit()
    {
        // 100 members with their names and statuses make a call object of ~7 KB: past APNs' 4-5 KB and FCM's 4 KB.
        var uids = await _kit.CreateUsersAsync(100, "gb");
        var (voip, fcm, alert) = (ApnsTestKit.NewDeviceToken(), $"fcm-{Guid.NewGuid():N}", ApnsTestKit.NewDeviceToken());
        await _kit.User(uids[1]).SetPushToken("iphone", PushPlatform.ApnsVoip, voip);
        await _kit.User(uids[2]).SetPushToken("pixel", PushPlatform.Fcm, fcm);
        await _kit.User(uids[3]).SetPushToken("ipad", PushPlatform.Apns, alert);
        var groupId = $"g-{Guid.NewGuid():N}";
        Assert.Equal(GroupOutcome.Done, (await _kit.Client.GetGrain<IGroupGrain>(groupId).Create("Big team", [.. uids])).Outcome);
        var started = await _kit.GroupCallAsync(groupId, uids[0]);
        Assert.True(started.Ok, started.Error?.Message);
        Assert.True(Encoding.UTF8.GetByteCount(new WireText().CallJson(started.Call!)) > 5120, "the whole call is past every provider's limit");

        var rings = new[] { Call((await fixture.WaitApnsAsync(voip, 1))[0]), Call((await fixture.WaitApnsAsync(alert, 1))[0]), FcmCall((await fixture.WaitFcmAsync(fcm, 1))[0]) };
        foreach (var call in rings)
        {
            Assert.True(call.GetProperty("truncated").GetBoolean());
            Assert.Equal(started.Call!.SessionId, call.GetProperty("sessionId").GetString());
            Assert.Equal(uids[0], call.GetProperty("initiator").GetProperty("uid").GetString());
            Assert.Equal(groupId, call.GetProperty("receiverId").GetString());
            Assert.Equal("video", call.GetProperty("callType").GetString());
            Assert.False(call.TryGetProperty("members", out _));
        }

        Assert.True((await _kit.Session(started.Call!.SessionId).EndCall(uids[0], null)).Ok);
        Assert.Equal("incomingCallCanceled", Event((await fixture.WaitApnsAsync(voip, 2))[1]));
        Assert.Equal("incomingCallCanceled", Event((await fixture.WaitApnsAsync(alert, 2))[1]));
        Assert.Equal("incomingCallCanceled", (await fixture.WaitFcmAsync(fcm, 2))[1].GetProperty("data").GetProperty("event").GetString());
        await SessionGoneAsync(started.Call.SessionId);
    }

    [Fact]
    public async Task A_call_with_four_KiB_of_metadata_rings_by_push_without_its_metadata_and_a_small_one_keeps_it()
    {
        foreach (var (metadata, cutToFit) in new[] { ($"{{\"note\":\"{new string('x', Limits.MaxMetadataBytes - 12)}\"}}", true), ("{\"note\":\"hi\"}", false) })
        {
            var (a, b) = await _kit.CreatePairAsync();
            var (fcm, alert) = ($"fcm-{Guid.NewGuid():N}", ApnsTestKit.NewDeviceToken());
            await _kit.User(b).SetPushToken("pixel", PushPlatform.Fcm, fcm);
            await _kit.User(b).SetPushToken("ipad", PushPlatform.Apns, alert);
            Assert.True(Encoding.UTF8.GetByteCount(metadata) <= Limits.MaxMetadataBytes);
            var started = await _kit.Session(Identifiers.NewSessionId()).InitiateCall(new InitiateRequest
            {
                CallerUid = a,
                ReceiverId = b,
                CallType = CallType.Audio,
                TimeoutSeconds = CallTestKit.LongTimeout,
                Metadata = metadata,
            });
            Assert.True(started.Ok, started.Error?.Message);
            var pushed = new[] { FcmCall((await fixture.WaitFcmAsync(fcm, 1))[0]), Call((await fixture.WaitApnsAsync(alert, 1))[0]) };
            foreach (var call in pushed)
            {
                Assert.Equal(started.Call!.SessionId, call.GetProperty("sessionId").GetString());
                var cut = call.TryGetProperty("truncated", out var truncated) && truncated.GetBoolean();
                Assert.Equal(cutToFit, cut);
                Assert.Equal(cutToFit ? "{}" : metadata, call.GetProperty("metadata").GetRawText());
            }

            Assert.True((await _kit.Session(started.Call!.SessionId).RejectCall(a, CallStatus.Cancelled, null)).Ok);
            await _kit.EventuallyFreeAsync(a, b);
        }
    }

    private static JsonElement Call(ApnsPush push) => push.Payload.GetProperty("callgrains").GetProperty("call");

    private static JsonElement FcmCall(JsonElement message) => JsonDocument.Parse(message.GetProperty("data").GetProperty("call").GetString()!).RootElement;

    private static string? Event(ApnsPush push) => push.Payload.GetProperty("callgrains").GetProperty("event").GetString();

    /// <summary>The call waited for its pushes and then left grain storage for the histories.</summary>
    private async Task SessionGoneAsync(string sessionId) =>
        await CallTestKit.EventuallyAsync(async () => await _kit.Log.FindAsync(sessionId) is not null, $"call {sessionId} archived");
}
