using System.Diagnostics.Metrics;
using System.Globalization;
using CallGrains.Abstractions;
using CallGrains.Grains.Push;
using CallGrains.Grains.Push.Apns;

namespace CallGrains.Tests.Push;

/// <summary>The APNs provider against <see cref="ApnsEmulator"/>, which checks what Apple checks.</summary>
public sealed class ApnsProviderTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    private static void AssertSent(ApnsTestKit kit, PushResult result) =>
        Assert.True(result.Outcome == PushOutcome.Sent, $"{result}; the emulator refused: {string.Join("; ", kit.Emulator.Refusals)} {string.Join("\n", kit.Emulator.ServerLogs.Lines)}");

    // Sends each in turn; every one must pass the emulator's checks and be accepted. The pushes as they arrived.
    private static async Task<ApnsPush[]> SendAllAsync(ApnsTestKit kit, params PushMessage[] messages)
    {
        foreach (var message in messages)
        {
            AssertSent(kit, await kit.Provider.SendOnceAsync(message, CancellationToken.None));
        }

        Assert.Empty(kit.Emulator.Refusals);
        return [.. kit.Emulator.Accepted];
    }

    private static Task<PushResult> RingAsync(ApnsTestKit kit) => kit.Provider.SendOnceAsync(kit.Message(PushPlatform.ApnsVoip, PushKind.Ring), CancellationToken.None);

    // A push that mints the provider token, then, that much later, a push that meets the scripted answers.
    private static async Task<PushResult> RefusedLaterAsync(ApnsTestKit kit, TimeSpan later, params ApnsAnswer[] answers)
    {
        AssertSent(kit, await RingAsync(kit));
        kit.Time.Advance(later);
        kit.Emulator.Script(answers);
        return await RingAsync(kit);
    }

    [Fact]
    public async Task Voip_ring_arrives_with_apples_headers_and_the_call()
    {
        await using var kit = await ApnsTestKit.StartAsync();
        var ring = kit.Message(PushPlatform.ApnsVoip, PushKind.Ring);

        var result = await kit.Provider.SendOnceAsync(ring, CancellationToken.None);

        AssertSent(kit, result);
        var push = Assert.Single(kit.Emulator.Accepted);
        Assert.Equal(ring.DeviceToken, push.DeviceToken);
        Assert.Equal("voip", push.Headers["apns-push-type"]);
        Assert.Equal("com.example.phone.voip", push.Headers["apns-topic"]);
        Assert.Equal("10", push.Headers["apns-priority"]);
        Assert.Equal("0", push.Headers["apns-expiration"]);
        Assert.Equal(ring.PushId.ToString("D"), push.Headers["apns-id"]);
        Assert.Equal("call-1", push.Headers["apns-collapse-id"]);
        var callgrains = push.Payload.GetProperty("callgrains");
        Assert.Equal("incomingCallReceived", callgrains.GetProperty("event").GetString());
        Assert.Equal(ring.PushId.ToString("D"), callgrains.GetProperty("pushId").GetString());
        Assert.Equal("call-1", callgrains.GetProperty("call").GetProperty("sessionId").GetString());
        Assert.Equal("Alice", callgrains.GetProperty("call").GetProperty("initiator").GetProperty("name").GetString());
        Assert.False(push.Payload.TryGetProperty("aps", out _), "a VoIP push carries no aps: nothing for iOS to show, CallKit shows the call");
    }

    [Fact]
    public async Task An_apns_token_gets_alerts_for_a_ring_and_a_missed_call()
    {
        await using var kit = await ApnsTestKit.StartAsync();
        var ring = kit.Message(PushPlatform.Apns, PushKind.Ring);
        var missed = kit.Message(PushPlatform.Apns, PushKind.Missed);

        var pushes = await SendAllAsync(kit, ring, missed);

        foreach (var (push, message) in pushes.Zip([ring, missed]))
        {
            Assert.Equal("alert", push.Headers["apns-push-type"]);
            Assert.Equal("com.example.phone", push.Headers["apns-topic"]);
            Assert.Equal("10", push.Headers["apns-priority"]);
            Assert.Equal(message.ExpiresAt.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture), push.Headers["apns-expiration"]);
            var aps = push.Payload.GetProperty("aps");
            Assert.Equal(message.AlertTitle, aps.GetProperty("alert").GetProperty("title").GetString());
            Assert.Equal("default", aps.GetProperty("sound").GetString());
            Assert.Equal(message.Event, push.Payload.GetProperty("callgrains").GetProperty("event").GetString());
        }

        Assert.Equal("from Alice", pushes[0].Payload.GetProperty("aps").GetProperty("alert").GetProperty("body").GetString());

        // The missed alert replaces the ring alert on the lock screen.
        Assert.Equal(pushes[0].Headers["apns-collapse-id"], pushes[1].Headers["apns-collapse-id"]);
    }

    [Fact]
    public async Task A_cancel_is_a_silent_background_push_to_an_apns_token_and_a_voip_push_to_a_voip_token()
    {
        await using var kit = await ApnsTestKit.StartAsync();
        var onApns = kit.Message(PushPlatform.Apns, PushKind.Cancel);
        var onVoip = kit.Message(PushPlatform.ApnsVoip, PushKind.Cancel);

        var pushes = await SendAllAsync(kit, onApns, onVoip);

        var (background, voip) = (pushes[0], pushes[1]);
        Assert.Equal("background", background.Headers["apns-push-type"]);
        Assert.Equal("5", background.Headers["apns-priority"]);
        Assert.Equal("com.example.phone", background.Headers["apns-topic"]);
        Assert.Equal(1, background.Payload.GetProperty("aps").GetProperty("content-available").GetInt32());
        Assert.Equal("cancelled", background.Payload.GetProperty("callgrains").GetProperty("reason").GetString());
        Assert.Equal("voip", voip.Headers["apns-push-type"]);
        Assert.Equal("com.example.phone.voip", voip.Headers["apns-topic"]);
        Assert.Equal("incomingCallCanceled", voip.Payload.GetProperty("callgrains").GetProperty("event").GetString());
    }

    [Fact]
    public async Task A_missed_alert_is_not_sent_to_a_voip_token()
    {
        await using var kit = await ApnsTestKit.StartAsync();

        var result = await kit.Provider.SendOnceAsync(kit.Message(PushPlatform.ApnsVoip, PushKind.Missed), CancellationToken.None);

        Assert.Equal(PushOutcome.Failed, result.Outcome);
        Assert.Equal(0, kit.Emulator.Requests);
    }

    [Fact]
    public async Task One_provider_token_serves_forty_minutes_of_pushes_then_a_new_one_is_minted()
    {
        await using var kit = await ApnsTestKit.StartAsync();
        var minted = 0;
        kit.Provider.Token.Minted += _ => Interlocked.Increment(ref minted);

        for (var i = 0; i < 5; i++)
        {
            AssertSent(kit, await RingAsync(kit));
        }

        kit.Time.Advance(TimeSpan.FromMinutes(39));
        AssertSent(kit, await RingAsync(kit));
        Assert.Equal(1, minted);
        Assert.Single(kit.Emulator.Accepted.Select(p => p.Jwt).Distinct());

        kit.Time.Advance(TimeSpan.FromMinutes(1));
        AssertSent(kit, await RingAsync(kit));

        Assert.Equal(2, minted);
        Assert.Equal(2, kit.Emulator.Accepted.Select(p => p.Jwt).Distinct().Count());
        Assert.Empty(kit.Emulator.Refusals);
    }

    [Fact]
    public async Task ExpiredProviderToken_mints_one_new_token_and_the_push_goes_through()
    {
        await using var kit = await ApnsTestKit.StartAsync();
        var result = await RefusedLaterAsync(kit, TimeSpan.FromMinutes(25), ApnsAnswer.Error(403, "ExpiredProviderToken"));

        Assert.Equal(PushOutcome.Sent, result.Outcome);
        Assert.Equal(3, kit.Emulator.Requests);
        var jwts = kit.Emulator.JwtsSeen.ToArray();
        Assert.Equal(jwts[0], jwts[1]);
        Assert.NotEqual(jwts[1], jwts[2]);
    }

    [Fact]
    public async Task A_fresh_token_refused_again_fails_without_minting_more()
    {
        await using var kit = await ApnsTestKit.StartAsync();
        var result = await RefusedLaterAsync(kit, TimeSpan.FromMinutes(25), ApnsAnswer.Error(403, "InvalidProviderToken"), ApnsAnswer.Error(403, "InvalidProviderToken"));

        Assert.Equal(PushOutcome.Failed, result.Outcome);
        Assert.Equal("InvalidProviderToken", result.Reason);
        Assert.Equal(3, kit.Emulator.Requests);
        Assert.Equal(2, kit.Emulator.JwtsSeen.Distinct().Count());
    }

    [Fact]
    public async Task ExpiredProviderToken_within_twenty_minutes_of_the_last_mint_waits_instead_of_minting()
    {
        await using var kit = await ApnsTestKit.StartAsync();
        var result = await RefusedLaterAsync(kit, TimeSpan.FromMinutes(5), ApnsAnswer.Error(403, "ExpiredProviderToken"));

        // APNs would answer TooManyProviderTokenUpdates to a new token now.
        Assert.Equal(PushOutcome.Retry, result.Outcome);
        Assert.Equal(TimeSpan.FromMinutes(15), result.RetryAfter);
        Assert.Equal(2, kit.Emulator.Requests);
        Assert.Single(kit.Emulator.JwtsSeen.Distinct());
    }

    [Theory]
    [InlineData(400, "BadDeviceToken")]
    [InlineData(410, "Unregistered")]
    public async Task A_gone_token_is_reported_for_removal(int status, string reason)
    {
        await using var kit = await ApnsTestKit.StartAsync();
        kit.Emulator.Script(ApnsAnswer.Error(status, reason));

        var result = await RingAsync(kit);

        Assert.Equal(new PushResult(PushOutcome.TokenGone, status, reason), result);
    }

    [Fact]
    public async Task A_token_that_is_not_hex_is_refused_by_apns_and_reported_gone()
    {
        await using var kit = await ApnsTestKit.StartAsync();

        var result = await kit.Provider.SendOnceAsync(kit.Message(PushPlatform.ApnsVoip, PushKind.Ring, deviceToken: "not/a token"), CancellationToken.None);

        Assert.Equal(PushOutcome.TokenGone, result.Outcome);
        Assert.Equal("BadDeviceToken", result.Reason);
    }

    [Theory]
    [InlineData(429, "TooManyRequests")]
    [InlineData(500, "InternalServerError")]
    [InlineData(503, "ServiceUnavailable")]
    public async Task Throttling_and_server_errors_are_retried(int status, string reason)
    {
        await using var kit = await ApnsTestKit.StartAsync();
        kit.Emulator.Script(ApnsAnswer.Error(status, reason, TimeSpan.FromSeconds(3)));

        var result = await RingAsync(kit);

        Assert.Equal(new PushResult(PushOutcome.Retry, status, reason, TimeSpan.FromSeconds(3)), result);
    }

    [Theory]
    [InlineData("TopicDisallowed")]
    [InlineData("DeviceTokenNotForTopic")]
    public async Task Other_refusals_fail_with_apples_reason(string reason)
    {
        await using var kit = await ApnsTestKit.StartAsync();
        kit.Emulator.Script(ApnsAnswer.Error(400, reason));

        var result = await RingAsync(kit);

        Assert.Equal(new PushResult(PushOutcome.Failed, 400, reason), result);
    }

    [Fact]
    public async Task A_503_with_Retry_After_is_sent_again_after_that_wait_by_the_retry_loop()
    {
        await using var kit = await ApnsTestKit.StartAsync();
        kit.Emulator.Script(ApnsAnswer.Error(503, "ServiceUnavailable", TimeSpan.FromSeconds(7)));
        var message = kit.Message(PushPlatform.Apns, PushKind.Missed);
        var start = kit.Time.GetUtcNow();

        var sending = new PushRetry(kit.Time).SendAsync(kit.Provider, message, CancellationToken.None);
        for (var i = 0; i < 4000 && !sending.IsCompleted; i++)
        {
            await Task.Delay(5);
            if (kit.Emulator.Requests == 1)
            {
                kit.Time.Advance(TimeSpan.FromMilliseconds(250));
            }
        }

        var (result, attempts) = await sending.WaitAsync(Deadline);
        Assert.Equal(PushOutcome.Sent, result.Outcome);
        Assert.Equal(2, attempts);
        Assert.True(Assert.Single(kit.Emulator.Accepted).At - start >= TimeSpan.FromSeconds(7), "sent again before Retry-After");
    }

    [Fact]
    public async Task A_hanging_apns_is_given_up_on_after_the_attempt_timeout_and_retried()
    {
        await using var kit = await ApnsTestKit.StartAsync(attemptTimeout: TimeSpan.FromSeconds(2));
        kit.Emulator.Script(ApnsAnswer.Hang);

        var sending = RingAsync(kit);
        await kit.Emulator.Hanging.Task.WaitAsync(Deadline);
        kit.Time.Advance(TimeSpan.FromSeconds(2));
        var result = await sending.WaitAsync(Deadline);

        Assert.Equal(PushOutcome.Retry, result.Outcome);
        Assert.Equal("Timeout", result.Reason);
        AssertSent(kit, await RingAsync(kit));
    }

    [Fact]
    public async Task A_dropped_connection_is_retried_and_the_next_push_opens_a_new_one()
    {
        await using var kit = await ApnsTestKit.StartAsync();
        kit.Emulator.Script(ApnsAnswer.Drop);

        var result = await RingAsync(kit).WaitAsync(Deadline);

        Assert.Equal(PushOutcome.Retry, result.Outcome);
        AssertSent(kit, await RingAsync(kit));
        Assert.Equal(2, kit.Emulator.Connections);
    }

    [Fact]
    public async Task Fifty_concurrent_pushes_and_the_ones_after_share_one_connection_and_one_provider_token()
    {
        await using var kit = await ApnsTestKit.StartAsync();
        var messages = Enumerable.Range(0, 50).Select(i => kit.Message(PushPlatform.ApnsVoip, PushKind.Ring, sessionId: $"call-{i}")).ToArray();

        var results = await Task.WhenAll(messages.Select(m => Task.Run(() => kit.Provider.SendOnceAsync(m, CancellationToken.None)))).WaitAsync(Deadline);
        var more = new List<PushResult>();
        foreach (var message in messages.Take(10))
        {
            more.Add(await kit.Provider.SendOnceAsync(message with { PushId = Guid.NewGuid() }, CancellationToken.None));
        }

        Assert.All(results.Concat(more), r => Assert.Equal(PushOutcome.Sent, r.Outcome));
        Assert.Equal(60, kit.Emulator.Accepted.Count);
        Assert.InRange(kit.Emulator.Connections, 1, 2);
        Assert.Single(kit.Emulator.JwtsSeen.Distinct());
    }

    [Fact]
    public async Task No_device_token_provider_token_or_key_appears_in_the_logs()
    {
        await using var kit = await ApnsTestKit.StartAsync();
        var messages = new[] { PushKind.Ring, PushKind.Ring, PushKind.Cancel, PushKind.Ring }.Select(k => kit.Message(PushPlatform.ApnsVoip, k)).ToArray();
        kit.Emulator.Script(ApnsAnswer.Error(410, "Unregistered"), ApnsAnswer.Error(500, "InternalServerError"), ApnsAnswer.Error(400, "BadTopic"));
        foreach (var message in messages)
        {
            await kit.Provider.SendOnceAsync(message, CancellationToken.None);
        }

        var logs = string.Join('\n', kit.Logs.Lines);
        Assert.Contains(PushLog.TokenHash(messages[0].DeviceToken), logs);
        Assert.Contains("Unregistered", logs);
        foreach (var secret in messages.Select(m => m.DeviceToken).Concat(kit.Emulator.JwtsSeen).Concat(kit.Emulator.JwtsSeen.Select(j => j.Split('.')[2])))
        {
            Assert.DoesNotContain(secret, logs, StringComparison.OrdinalIgnoreCase);
        }

        var keyBody = kit.KeyPem.Split('\n')[1];
        Assert.DoesNotContain(keyBody, logs);
    }

    [Fact]
    public async Task Each_attempt_is_counted_by_provider_kind_and_result()
    {
        await using var kit = await ApnsTestKit.StartAsync();
        var counted = new List<(long Value, string Tags)>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter == kit.Metrics.Meter && instrument.Name == "callgrains.push.sent")
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
        {
            lock (counted)
            {
                counted.Add((value, string.Join(',', tags.ToArray().Select(t => $"{t.Key}={t.Value}"))));
            }
        });
        listener.Start();
        kit.Emulator.Script(ApnsAnswer.Error(410, "Unregistered"));

        await RingAsync(kit);
        await kit.Provider.SendOnceAsync(kit.Message(PushPlatform.Apns, PushKind.Missed), CancellationToken.None);

        Assert.Equal(
            [(1L, "provider=apns,kind=ring,result=token_gone"), (1L, "provider=apns,kind=missed,result=sent")],
            counted);
    }

    [Fact]
    public void Settings_are_all_or_none_and_the_key_must_be_a_p256_key()
    {
        var validator = new ApnsOptionsValidator();
        var key = Path.Combine(Path.GetTempPath(), $"AuthKey_{Guid.NewGuid():N}.p8");
        var rsa = Path.Combine(Path.GetTempPath(), $"AuthKey_{Guid.NewGuid():N}.p8");
        try
        {
            using (var ec = System.Security.Cryptography.ECDsa.Create(System.Security.Cryptography.ECCurve.NamedCurves.nistP256))
            {
                File.WriteAllText(key, ec.ExportPkcs8PrivateKeyPem());
            }

            using (var other = System.Security.Cryptography.RSA.Create(2048))
            {
                File.WriteAllText(rsa, other.ExportPkcs8PrivateKeyPem());
            }

            ApnsOptions Full(string path) => new() { TeamId = ApnsTestKit.TeamId, KeyId = ApnsTestKit.KeyId, PrivateKeyPath = path, Topic = ApnsTestKit.Topic };

            Assert.True(validator.Validate(null, new ApnsOptions()).Succeeded);
            Assert.False(new ApnsOptions().IsConfigured);
            Assert.True(validator.Validate(null, Full(key)).Succeeded);
            Assert.False(validator.Validate(null, new ApnsOptions { TeamId = ApnsTestKit.TeamId, Topic = ApnsTestKit.Topic }).Succeeded);
            Assert.False(validator.Validate(null, Full(rsa)).Succeeded);
            Assert.False(validator.Validate(null, Full(key + ".missing")).Succeeded);
            var voipTopic = Full(key);
            voipTopic.Topic += ".voip";
            Assert.False(validator.Validate(null, voipTopic).Succeeded);
        }
        finally
        {
            File.Delete(key);
            File.Delete(rsa);
        }
    }
}
