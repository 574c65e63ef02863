using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Text.Json.Nodes;
using System.Threading.Channels;
using CallGrains.Abstractions;
using CallGrains.Grains.Push;
using CallGrains.Grains.Push.Fcm;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace CallGrains.Tests.Push;

/// <summary>The FCM provider against <see cref="FcmEmulator"/>, on a clock the test moves.</summary>
public sealed class FcmProviderTests : IAsyncLifetime
{
    private const int AttemptTimeoutSeconds = 10;
    private const string CallJson = """{"sessionId":"s-1","callType":"video","receiverType":"user","receiverId":"bob","initiator":{"uid":"alice","name":"Alice"},"status":"initiated"}""";

    private readonly ObservedTime _time = new(new FakeTimeProvider(DateTimeOffset.UtcNow));
    private readonly CapturingLogger _log = new();
    private FcmEmulator _fcm = null!;
    private FcmProvider _provider = null!;

    public async Task InitializeAsync()
    {
        _fcm = await FcmEmulator.StartAsync(_time);
        _provider = new FcmProvider(
            Options.Create(new FcmOptions { ServiceAccountPath = _fcm.ServiceAccountPath, Endpoint = _fcm.Endpoint, AttemptTimeoutSeconds = AttemptTimeoutSeconds }),
            _time,
            new PushMetrics(),
            _log);
    }

    public async Task DisposeAsync()
    {
        _provider.Dispose();
        await _fcm.DisposeAsync();
    }

    [Fact]
    public async Task Ring_cancel_and_missed_pushes_arrive_as_high_priority_data_messages()
    {
        var ring = Message(PushKind.Ring);
        var cancel = Message(PushKind.Cancel) with { Event = "incomingCallCanceled", Reason = "cancelled" };
        var missed = Message(PushKind.Missed) with { Event = "callMissed", AlertTitle = "Missed video call", AlertBody = "from Alice" };

        var first = await _provider.SendOnceAsync(ring, default);
        Assert.True(first.Outcome == PushOutcome.Sent, $"{first} {string.Join("; ", _fcm.Violations)}");
        Assert.Equal(PushOutcome.Sent, (await _provider.SendOnceAsync(cancel, default)).Outcome);
        Assert.Equal(PushOutcome.Sent, (await _provider.SendOnceAsync(missed, default)).Outcome);

        Assert.Empty(_fcm.Violations);
        var accepted = _fcm.Accepted;
        Assert.Equal(3, accepted.Count);
        foreach (var (sent, message) in accepted.Zip([ring, cancel, missed]))
        {
            Assert.Equal("device-token-1", (string?)sent["token"]);
            var data = sent["data"]!.AsObject();
            Assert.Equal(message.Event, (string?)data["event"]);
            Assert.Equal("s-1", (string?)data["sessionId"]);
            Assert.Equal(CallJson, (string?)data["call"]);
            Assert.Equal(JsonNode.Parse(CallJson)!["initiator"]!["uid"]!.GetValue<string>(), JsonNode.Parse((string)data["call"]!)!["initiator"]!["uid"]!.GetValue<string>());
            Assert.Equal(message.PushId.ToString("D"), (string?)data["pushId"]);
            Assert.Equal(message.Reason, (string?)data["reason"]);
            Assert.Equal("high", (string?)sent["android"]!["priority"]);
        }

        Assert.Null(accepted[0]["notification"]);
        Assert.Null(accepted[1]["notification"]);
        Assert.Equal("Missed video call", (string?)accepted[2]["notification"]!["title"]);
        Assert.Equal("from Alice", (string?)accepted[2]["notification"]!["body"]);
    }

    [Fact]
    public async Task The_ttl_is_the_time_left_to_ring_and_nothing_is_sent_after_it()
    {
        var ring = Message(PushKind.Ring, ringsFor: TimeSpan.FromSeconds(45));
        await _provider.SendOnceAsync(ring, default);
        _time.Fake.Advance(TimeSpan.FromSeconds(12.5));
        await _provider.SendOnceAsync(ring, default);
        _time.Fake.Advance(TimeSpan.FromSeconds(33));
        var late = await _provider.SendOnceAsync(ring, default);

        Assert.Equal(["45s", "32s"], _fcm.Accepted.Select(m => (string)m["android"]!["ttl"]!));
        Assert.Equal(PushOutcome.Failed, late.Outcome);
        Assert.Equal(2, _fcm.Requests);
    }

    [Fact]
    public async Task One_access_token_serves_many_sends_and_a_new_one_is_granted_near_its_expiry()
    {
        for (var i = 0; i < 100; i++)
        {
            Assert.Equal(PushOutcome.Sent, (await _provider.SendOnceAsync(Message(PushKind.Ring), default)).Outcome);
        }

        Assert.Equal(1, _fcm.Grants);
        Assert.Single(_fcm.AcceptedBearers.Distinct());

        // In the last minute of its hour the token is not used any more: a new grant, then the new bearer.
        _time.Fake.Advance(TimeSpan.FromMinutes(59.5));
        Assert.Equal(PushOutcome.Sent, (await _provider.SendOnceAsync(Message(PushKind.Ring), default)).Outcome);

        Assert.Equal(2, _fcm.Grants);
        Assert.NotEqual(_fcm.AcceptedBearers[0], _fcm.AcceptedBearers[^1]);
        Assert.Empty(_fcm.Violations);
    }

    [Fact]
    public async Task A_refused_access_token_is_replaced_once_and_the_push_goes_out()
    {
        await _provider.SendOnceAsync(Message(PushKind.Ring), default);
        _fcm.Enqueue(FcmAnswer.Unauthorized);

        var result = await _provider.SendOnceAsync(Message(PushKind.Ring), default);

        Assert.Equal(PushOutcome.Sent, result.Outcome);
        Assert.Equal(2, _fcm.Grants);
        Assert.Equal(3, _fcm.Requests);
        Assert.NotEqual(_fcm.AcceptedBearers[0], _fcm.AcceptedBearers[1]);
    }

    [Fact]
    public async Task Credentials_refused_twice_fail_the_attempt_without_a_third_try()
    {
        _fcm.Enqueue(FcmAnswer.Unauthorized, FcmAnswer.Unauthorized);

        var result = await _provider.SendOnceAsync(Message(PushKind.Ring), default);

        Assert.Equal(PushOutcome.Failed, result.Outcome);
        Assert.Equal(401, result.StatusCode);
        Assert.Equal(2, _fcm.Requests);
        Assert.Equal(2, _fcm.Grants);
    }

    [Theory]
    [InlineData(FcmAnswer.Unregistered, PushOutcome.TokenGone, 404)]
    [InlineData(FcmAnswer.InvalidToken, PushOutcome.TokenGone, 400)]
    [InlineData(FcmAnswer.InvalidArgument, PushOutcome.Failed, 400)]
    [InlineData(FcmAnswer.SenderIdMismatch, PushOutcome.Failed, 403)]
    [InlineData(FcmAnswer.ThirdPartyAuthError, PushOutcome.Failed, 401)]
    [InlineData(FcmAnswer.Internal, PushOutcome.Retry, 500)]
    [InlineData(FcmAnswer.Unavailable, PushOutcome.Retry, 503)]
    [InlineData(FcmAnswer.TooManyRequests, PushOutcome.Retry, 429)]
    public async Task Each_answer_is_read_as_FCM_means_it(FcmAnswer answer, PushOutcome expected, int status)
    {
        _fcm.Enqueue(answer);

        var result = await _provider.SendOnceAsync(Message(PushKind.Ring), default);

        Assert.Equal(expected, result.Outcome);
        Assert.Equal(status, result.StatusCode);
        Assert.Equal(answer == FcmAnswer.TooManyRequests ? TimeSpan.FromSeconds(_fcm.RetryAfterSeconds) : null, result.RetryAfter);

        // A third-party auth error is about the app's APNs credentials in Firebase, not our access token: no new grant.
        Assert.Equal(1, _fcm.Grants);
        Assert.Equal(1, _fcm.Requests);
    }

    [Fact]
    public async Task A_busy_FCM_is_retried_after_its_Retry_After()
    {
        _fcm.Enqueue(FcmAnswer.TooManyRequests);
        var sending = new PushRetry(_time).SendAsync(_provider, Message(PushKind.Ring), default);

        var wait = await _time.NextTimerAsync(due => due != TimeSpan.FromSeconds(AttemptTimeoutSeconds));
        Assert.Equal(TimeSpan.FromSeconds(_fcm.RetryAfterSeconds), wait);
        _time.Fake.Advance(wait - TimeSpan.FromMilliseconds(100));
        Assert.False(sending.IsCompleted);
        Assert.Equal(1, _fcm.Requests);
        _time.Fake.Advance(TimeSpan.FromMilliseconds(100));

        var (result, attempts) = await sending;
        Assert.Equal(PushOutcome.Sent, result.Outcome);
        Assert.Equal(2, attempts);
        Assert.Single(_fcm.Accepted);
    }

    [Fact]
    public async Task Server_errors_are_retried_with_back_off_until_one_goes_through()
    {
        _fcm.Enqueue(FcmAnswer.Internal, FcmAnswer.Unavailable);
        var sending = new PushRetry(_time).SendAsync(_provider, Message(PushKind.Ring), default);

        for (var i = 0; i < 2; i++)
        {
            _time.Fake.Advance(await _time.NextTimerAsync(due => due != TimeSpan.FromSeconds(AttemptTimeoutSeconds)));
        }

        var (result, attempts) = await sending;
        Assert.Equal(PushOutcome.Sent, result.Outcome);
        Assert.Equal(3, attempts);
    }

    [Fact]
    public async Task A_hanging_FCM_is_given_up_after_the_attempt_timeout_and_retried()
    {
        await _provider.SendOnceAsync(Message(PushKind.Ring), default);
        _fcm.Enqueue(FcmAnswer.Hang);
        var sending = _provider.SendOnceAsync(Message(PushKind.Ring), default);
        await _fcm.WaitForRequestsAsync(2);
        Assert.False(sending.IsCompleted);

        _time.Fake.Advance(TimeSpan.FromSeconds(AttemptTimeoutSeconds));

        var result = await sending.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(PushOutcome.Retry, result.Outcome);
        Assert.Equal("Timeout", result.Reason);
    }

    [Fact]
    public async Task A_dropped_connection_is_retried()
    {
        _fcm.Enqueue(FcmAnswer.Drop);

        var result = await _provider.SendOnceAsync(Message(PushKind.Ring), default);

        Assert.Equal(PushOutcome.Retry, result.Outcome);
        Assert.Equal(PushOutcome.Sent, (await _provider.SendOnceAsync(Message(PushKind.Ring), default)).Outcome);
    }

    [Fact]
    public async Task No_log_line_carries_a_device_token_an_access_token_or_the_key()
    {
        _fcm.Enqueue(FcmAnswer.Unauthorized, FcmAnswer.Unregistered, FcmAnswer.Unavailable, FcmAnswer.InvalidArgument);
        for (var i = 0; i < 5; i++)
        {
            await _provider.SendOnceAsync(Message(PushKind.Ring), default);
        }

        Assert.Equal(5, _log.Lines.Count(line => line.Contains(PushLog.TokenHash("device-token-1"), StringComparison.Ordinal)));
        var secrets = _fcm.IssuedTokens.Append("device-token-1").Append(FcmEmulator.KeyId).ToList();
        var keyLines = _fcm.PrivateKeyPem.Split('\n').Where(line => line.Length > 20 && !line.StartsWith("-----", StringComparison.Ordinal));
        Assert.All(_log.Lines, line => Assert.DoesNotContain(secrets.Concat(keyLines), secret => line.Contains(secret, StringComparison.Ordinal)));
    }

    [Fact]
    public async Task Each_attempt_is_counted_by_kind_and_result_and_timed()
    {
        var counted = new ConcurrentQueue<string>();
        var timed = 0;
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == "CallGrains" && instrument.Name is "callgrains.push.sent" or "callgrains.push.duration")
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
        {
            var tag = tags.ToArray().ToDictionary(t => t.Key, t => t.Value);
            counted.Enqueue($"{tag["provider"]} {tag["kind"]} {tag["result"]} {value}");
        });
        listener.SetMeasurementEventCallback<double>((_, _, tags, _) => Interlocked.Add(ref timed, tags.ToArray().Any(t => t is { Key: "provider", Value: "fcm" }) ? 1 : 0));
        listener.Start();

        _fcm.Enqueue(FcmAnswer.Unregistered);
        await _provider.SendOnceAsync(Message(PushKind.Ring), default);
        await _provider.SendOnceAsync(Message(PushKind.Cancel), default);

        Assert.Equal(["fcm ring token_gone 1", "fcm cancel sent 1"], counted);
        Assert.Equal(2, timed);
    }

    [Fact]
    public void Without_configuration_FCM_is_off_and_a_bad_file_stops_the_start()
    {
        IServiceCollection Services(Dictionary<string, string?> settings) =>
            new ServiceCollection().AddLogging().AddFcmPush(new ConfigurationBuilder().AddInMemoryCollection(settings).Build());

        using var off = Services([]).BuildServiceProvider();
        Assert.Empty(off.GetServices<IPushProvider>());

        using var on = Services(new() { ["Push:Fcm:ServiceAccountPath"] = _fcm.ServiceAccountPath, ["Push:Fcm:Endpoint"] = _fcm.Endpoint.AbsoluteUri }).BuildServiceProvider();
        Assert.Equal("fcm", Assert.Single(on.GetServices<IPushProvider>()).Name);

        using var missing = Services(new() { ["Push:Fcm:ProjectId"] = "p", ["Push:Fcm:ServiceAccountPath"] = "/nonexistent/sa.json" }).BuildServiceProvider();
        var error = Assert.Throws<OptionsValidationException>(() => missing.GetRequiredService<IOptions<FcmOptions>>().Value);
        Assert.Contains("ServiceAccountPath", error.Message);
    }

    private PushMessage Message(PushKind kind, TimeSpan? ringsFor = null) => new()
    {
        PushId = Guid.NewGuid(),
        Platform = PushPlatform.Fcm,
        DeviceToken = "device-token-1",
        Kind = kind,
        Event = "incomingCallReceived",
        SessionId = "s-1",
        CallJson = CallJson,
        ExpiresAt = _time.GetUtcNow() + (ringsFor ?? TimeSpan.FromSeconds(45)),
    };

    /// <summary>A fake clock that tells the test each timer set on it, so the test moves time only once a wait is armed.</summary>
    private sealed class ObservedTime(FakeTimeProvider fake) : TimeProvider
    {
        private readonly Channel<TimeSpan> _timers = Channel.CreateUnbounded<TimeSpan>();

        public FakeTimeProvider Fake => fake;

        public override DateTimeOffset GetUtcNow() => fake.GetUtcNow();

        public override long GetTimestamp() => fake.GetTimestamp();

        public override long TimestampFrequency => fake.TimestampFrequency;

        public override TimeZoneInfo LocalTimeZone => fake.LocalTimeZone;

        public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
        {
            var timer = fake.CreateTimer(callback, state, dueTime, period);
            _timers.Writer.TryWrite(dueTime);
            return timer;
        }

        /// <summary>The due time of the next timer set that <paramref name="match"/> picks (waits at most 30 s).</summary>
        public async Task<TimeSpan> NextTimerAsync(Func<TimeSpan, bool> match)
        {
            using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            while (true)
            {
                var due = await _timers.Reader.ReadAsync(deadline.Token);
                if (match(due))
                {
                    return due;
                }
            }
        }
    }

    private sealed class CapturingLogger : ILogger<FcmProvider>
    {
        private readonly ConcurrentQueue<string> _lines = new();

        public IReadOnlyList<string> Lines => [.. _lines];

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            _lines.Enqueue(formatter(state, exception) + " " + exception);
    }
}
