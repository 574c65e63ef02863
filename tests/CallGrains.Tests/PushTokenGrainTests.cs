using CallGrains.Abstractions;

namespace CallGrains.Tests;

/// <summary>Push tokens in the user grain and their index: where a ring is pushed, what a late "gone" answer may remove, what goes away.</summary>
[Collection(ClusterGroup.Name)]
public sealed class PushTokenGrainTests(ClusterFixture fixture)
{
    private readonly CallTestKit _kit = new(fixture.Cluster);

    [Fact]
    public async Task A_ring_is_pushed_to_the_devices_without_an_open_socket_while_it_rings_and_its_cancel_to_the_same_ones()
    {
        var (caller, uid) = await _kit.CreatePairAsync();
        var user = _kit.User(uid);
        var (voip, alert) = (ApnsToken(), ApnsToken());
        await user.SetPushToken("iphone", PushPlatform.ApnsVoip, voip);
        await user.SetPushToken("iphone", PushPlatform.Apns, alert);
        await user.SetPushToken("ipad", PushPlatform.Apns, "ab" + alert[2..]);
        await user.SetPushToken("pixel", PushPlatform.Fcm, "pixel-token");
        await user.SetPushToken("laptop", PushPlatform.Fcm, "laptop-token");
        var pixel = await user.RegisterDevice("pixel", _kit.GatewayIds[0], 0);
        var laptop = await user.RegisterDevice("laptop", _kit.GatewayIds[^1], 0);
        Assert.Null(laptop.Error);

        // Not ringing: nothing to push.
        Assert.Empty(await _kit.Slot(uid).RingPushTargets("no-such-call", null));
        var call = await _kit.RingAsync(caller, uid);

        // The iPhone rings through PushKit alone; the iPad, with alerts only, by an alert; the pixel has a socket.
        Assert.Equal(Sorted(voip, "ab" + alert[2..]), Tokens(await _kit.Slot(uid).RingPushTargets(call.SessionId, null)));
        Assert.Empty(await _kit.Slot(uid).RingPushTargets("another-call", null));

        // The pixel's socket closes: the cancel still goes only where the ring went, less the device that acted, and
        // the same again when it is asked again (a cancel sent again after a crash).
        await user.UnregisterDevice("pixel", _kit.GatewayIds[0], pixel.Epoch);
        Assert.Equal(Sorted(voip), Tokens(await _kit.Slot(uid).CancelPushTargets(call.SessionId, "ipad")));
        Assert.Equal(Sorted(voip, "ab" + alert[2..]), Tokens(await _kit.Slot(uid).CancelPushTargets(call.SessionId, null)));
        Assert.Empty(await _kit.Slot(uid).CancelPushTargets("never-pushed", null));

        // Missed alerts go to every token that shows alerts, socket or not; never to PushKit.
        Assert.Equal(Sorted(alert, "ab" + alert[2..], "laptop-token", "pixel-token"), Tokens(await _kit.Slot(uid).MissedPushTargets()));
        Assert.Empty(await _kit.Slot($"nobody-{Guid.NewGuid():N}").MissedPushTargets());
        Assert.True((await _kit.Session(call.SessionId).RejectCall(caller, CallStatus.Cancelled, null)).Ok);
        await _kit.EventuallyFreeAsync(caller, uid);
        Assert.Empty(await _kit.Slot(uid).RingPushTargets(call.SessionId, null));
        Assert.False(await _kit.Slot(uid).StillRinging(call.SessionId));

        // The caller calls again at once: the first call's cancel, late behind a slow provider, still finds its devices.
        var again = await _kit.RingAsync(caller, uid);
        Assert.True(await _kit.Slot(uid).StillRinging(again.SessionId));
        Assert.Equal(Sorted(voip, "ab" + alert[2..], "pixel-token"), Tokens(await _kit.Slot(uid).RingPushTargets(again.SessionId, null)));
        Assert.Equal(Sorted(voip, "ab" + alert[2..]), Tokens(await _kit.Slot(uid).CancelPushTargets(call.SessionId, null)));
        Assert.True((await _kit.Session(again.SessionId).RejectCall(caller, CallStatus.Cancelled, null)).Ok);
    }

    [Fact]
    public async Task A_late_gone_answer_leaves_a_fresh_token_alone_and_a_current_one_goes_with_its_index_entry()
    {
        var uid = (await _kit.CreateUsersAsync(1, "gone"))[0];
        var user = _kit.User(uid);
        var (stale, fresh) = (ApnsToken(), ApnsToken());
        await user.SetPushToken("iphone", PushPlatform.ApnsVoip, stale);
        await user.SetPushToken("iphone", PushPlatform.ApnsVoip, fresh);

        Assert.False(await user.RemovePushToken("iphone", PushPlatform.ApnsVoip, stale));
        Assert.False(await user.RemovePushToken("iphone", PushPlatform.Apns, fresh));
        Assert.Equal([fresh], Tokens((await user.GetPushTokens())!.Value));
        Assert.Equal(uid, (await Index(PushPlatform.ApnsVoip, fresh).GetOwner())?.Uid);

        Assert.True(await user.RemovePushToken("iphone", PushPlatform.ApnsVoip, fresh));
        Assert.Empty((await user.GetPushTokens())!.Value);
        Assert.Null(await Index(PushPlatform.ApnsVoip, fresh).GetOwner());
    }

    [Fact]
    public async Task Replaced_removed_and_evicted_tokens_leave_the_index()
    {
        var uid = (await _kit.CreateUsersAsync(1, "index"))[0];
        var user = _kit.User(uid);
        var (replaced, removed) = (ApnsToken(), ApnsToken());
        await user.SetPushToken("a", PushPlatform.ApnsVoip, replaced);
        await user.SetPushToken("a", PushPlatform.ApnsVoip, removed);
        Assert.Null(await Index(PushPlatform.ApnsVoip, replaced).GetOwner());

        Assert.True(await user.RemoveDevicePushTokens("a"));
        Assert.Null(await Index(PushPlatform.ApnsVoip, removed).GetOwner());

        // 21 registrations with a cap of 20: the first one is evicted, and its index entry with it.
        for (var i = 0; i <= 20; i++)
        {
            await user.SetPushToken($"d{i}", PushPlatform.Fcm, $"{uid}-t{i}");
        }

        Assert.Equal(20, (await user.GetPushTokens())!.Value.Length);
        Assert.Null(await Index(PushPlatform.Fcm, $"{uid}-t0").GetOwner());
        Assert.Equal(new[] { uid, "d20" }, await Index(PushPlatform.Fcm, $"{uid}-t20").GetOwner() is { } o ? [o.Uid, o.DeviceId] : null);
    }

    [Fact]
    public async Task A_stale_move_notice_does_not_remove_a_registration_made_since()
    {
        var (a, b) = await _kit.CreatePairAsync();
        var shared = ApnsToken();
        var first = await _kit.User(a).SetPushToken("phone", PushPlatform.ApnsVoip, shared);
        var taken = await _kit.User(b).SetPushToken("phone", PushPlatform.ApnsVoip, shared);
        Assert.Equal(new PushTokenOwner(a, "phone", first.Token!.Claim), taken.TakenFrom);

        // a registers it again before b's notice reaches a: the notice names a's old claim and must not remove the new one.
        var back = await _kit.User(a).SetPushToken("phone", PushPlatform.ApnsVoip, shared);
        await _kit.User(a).PushTokenMoved("phone", PushPlatform.ApnsVoip, taken.TakenFrom!.Claim);
        await _kit.User(b).PushTokenMoved(back.TakenFrom!.DeviceId, PushPlatform.ApnsVoip, back.TakenFrom.Claim);

        Assert.Equal([shared], Tokens((await _kit.User(a).GetPushTokens())!.Value));
        Assert.Empty((await _kit.User(b).GetPushTokens())!.Value);
        Assert.Equal(new PushTokenOwner(a, "phone", back.Token!.Claim), await Index(PushPlatform.ApnsVoip, shared).GetOwner());
    }

    [Fact]
    public async Task Many_users_registering_one_token_at_once_leave_one_holder_whom_the_index_names()
    {
        var uids = await _kit.CreateUsersAsync(8, "race");
        for (var round = 0; round < 10; round++)
        {
            var shared = ApnsToken();
            var registrations = await Task.WhenAll(uids.Select(uid => _kit.User(uid).SetPushToken("phone", PushPlatform.ApnsVoip, shared)));

            // What the REST handler does with each answer: tell the user the token was taken from.
            await Task.WhenAll(registrations.Select(r => r.TakenFrom is { } from
                ? _kit.User(from.Uid).PushTokenMoved(from.DeviceId, PushPlatform.ApnsVoip, from.Claim)
                : Task.CompletedTask));

            var holders = new List<string>();
            foreach (var uid in uids)
            {
                if ((await _kit.User(uid).GetPushTokens())!.Value.Any(t => t.Token == shared))
                {
                    holders.Add(uid);
                }
            }

            Assert.Equal([(await Index(PushPlatform.ApnsVoip, shared).GetOwner())!.Uid], holders);
        }
    }

    private IPushTokenGrain Index(PushPlatform platform, string token) => _kit.Client.GetGrain<IPushTokenGrain>(PushTokens.IndexKey(platform, token));

    private static string[] Tokens(IEnumerable<PushToken> tokens) => [.. tokens.Select(t => t.Token).Order(StringComparer.Ordinal)];

    private static string[] Sorted(params string[] tokens) => [.. tokens.Order(StringComparer.Ordinal)];

    private static string ApnsToken() => $"{Guid.NewGuid():N}{Guid.NewGuid():N}";
}
