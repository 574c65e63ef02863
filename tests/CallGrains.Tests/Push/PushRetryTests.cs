using CallGrains.Abstractions;
using CallGrains.Grains.Push;
using Microsoft.Extensions.Time.Testing;

namespace CallGrains.Tests.Push;

/// <summary>The one retry loop every provider shares, on a fake clock, with a provider that answers from a script.</summary>
public sealed class PushRetryTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Retry_After_is_waited_out_before_the_next_attempt()
    {
        var time = new FakeTimeProvider();
        var provider = new ScriptedProvider(time, new PushResult(PushOutcome.Retry, 503, RetryAfter: TimeSpan.FromSeconds(7)), PushResult.Sent);

        var (result, attempts) = await RunAsync(time, new PushRetry(time), provider, Message(time, TimeSpan.FromMinutes(5)));

        Assert.Equal(PushOutcome.Sent, result.Outcome);
        Assert.Equal(2, attempts);
        Assert.True(provider.Attempts[1] - provider.Attempts[0] >= TimeSpan.FromSeconds(7), "tried again before Retry-After");
    }

    [Fact]
    public async Task No_attempt_is_made_at_or_after_ExpiresAt()
    {
        var time = new FakeTimeProvider();
        var provider = new ScriptedProvider(time, Enumerable.Repeat(new PushResult(PushOutcome.Retry, 429, RetryAfter: TimeSpan.FromSeconds(10)), 10).ToArray());
        var message = Message(time, TimeSpan.FromSeconds(25));

        var (result, attempts) = await RunAsync(time, new PushRetry(time, maxAttempts: 10), provider, message);

        Assert.Equal(PushOutcome.Retry, result.Outcome);
        Assert.Equal(3, attempts);
        Assert.All(provider.Attempts, at => Assert.True(at < message.ExpiresAt));
    }

    [Fact]
    public async Task Attempts_stop_at_the_cap()
    {
        var time = new FakeTimeProvider();
        var provider = new ScriptedProvider(time, Enumerable.Repeat(new PushResult(PushOutcome.Retry, 500), 10).ToArray());

        var (result, attempts) = await RunAsync(time, new PushRetry(time, maxAttempts: 4), provider, Message(time, TimeSpan.FromHours(1)));

        Assert.Equal(PushOutcome.Retry, result.Outcome);
        Assert.Equal(4, attempts);
        Assert.Equal(4, provider.Attempts.Count);
    }

    [Theory]
    [InlineData(PushOutcome.TokenGone)]
    [InlineData(PushOutcome.Failed)]
    public async Task A_final_answer_is_not_retried(PushOutcome outcome)
    {
        var time = new FakeTimeProvider();
        var provider = new ScriptedProvider(time, new PushResult(outcome, 400), PushResult.Sent);

        var (result, attempts) = await RunAsync(time, new PushRetry(time), provider, Message(time, TimeSpan.FromHours(1)));

        Assert.Equal(outcome, result.Outcome);
        Assert.Equal(1, attempts);
    }

    [Fact]
    public async Task An_expired_push_is_not_attempted()
    {
        var time = new FakeTimeProvider();
        var provider = new ScriptedProvider(time, PushResult.Sent);
        var message = Message(time, TimeSpan.Zero);

        var (result, attempts) = await new PushRetry(time).SendAsync(provider, message, CancellationToken.None);

        Assert.Equal(new PushResult(PushOutcome.Failed, Reason: "Expired"), result);
        Assert.Equal(0, attempts);
        Assert.Empty(provider.Attempts);
    }

    // Runs the clock forward by a second at a time until the loop is done (bounded in count).
    private static async Task<(PushResult, int)> RunAsync(FakeTimeProvider time, PushRetry retry, ScriptedProvider provider, PushMessage message)
    {
        var sending = retry.SendAsync(provider, message, CancellationToken.None);
        for (var i = 0; i < 20_000 && !sending.IsCompleted; i++)
        {
            time.Advance(TimeSpan.FromSeconds(1));
            await Task.Delay(1);
        }

        return await sending.WaitAsync(Deadline);
    }

    private static PushMessage Message(TimeProvider time, TimeSpan usefulFor) => new()
    {
        PushId = Guid.NewGuid(),
        Platform = PushPlatform.Fcm,
        DeviceToken = "token",
        Kind = PushKind.Missed,
        Event = "callMissed",
        SessionId = "call-1",
        CallJson = "{}",
        ExpiresAt = time.GetUtcNow() + usefulFor,
    };

    private sealed class ScriptedProvider(TimeProvider time, params PushResult[] answers) : IPushProvider
    {
        public List<DateTimeOffset> Attempts { get; } = [];

        public IReadOnlyCollection<PushPlatform> Platforms => [PushPlatform.Fcm];

        public string Name => "scripted";

        public Task<PushResult> SendOnceAsync(PushMessage message, CancellationToken cancellationToken)
        {
            lock (Attempts)
            {
                Attempts.Add(time.GetUtcNow());
                return Task.FromResult(answers[Attempts.Count - 1]);
            }
        }
    }
}
