namespace CallGrains.Grains.Push;

/// <summary>
/// Sends a push through its provider with retries while the push is still useful: an answer of
/// <see cref="PushOutcome.Retry"/> waits (the provider's <c>Retry-After</c> when it gave one, else an exponential
/// back-off from <paramref name="firstDelay"/> with jitter, capped at <paramref name="maxDelay"/>) and tries again, until
/// <see cref="PushMessage.ExpiresAt"/> or <paramref name="maxAttempts"/>. The clock is a <see cref="TimeProvider"/>, so
/// tests run it by hand.
/// </summary>
public sealed class PushRetry(TimeProvider time, int maxAttempts = 6, TimeSpan? firstDelay = null, TimeSpan? maxDelay = null)
{
    private readonly TimeSpan _firstDelay = firstDelay ?? TimeSpan.FromMilliseconds(500);
    private readonly TimeSpan _maxDelay = maxDelay ?? TimeSpan.FromSeconds(30);

    /// <summary>The last attempt's result, or <see cref="PushOutcome.Failed"/> with reason <c>Expired</c> if none was made in time.</summary>
    public Task<(PushResult Result, int Attempts)> SendAsync(IPushProvider provider, PushMessage message, CancellationToken cancellationToken) =>
        SendAsync(provider, message, null, CancellationToken.None, cancellationToken);

    /// <summary>
    /// The last attempt's result, or <see cref="PushOutcome.Failed"/> with reason <c>Expired</c> (or <c>Stopped</c>) if
    /// none was made in time. Once <paramref name="stop"/> is cancelled (a ring that ended), or <paramref name="stillUseful"/>
    /// says no before a retry (a ring whose call moved to another node and ended there), no attempt starts and no wait
    /// goes on; an attempt already on the wire is let finish, since it was sent while the push was still due.
    /// </summary>
    public async Task<(PushResult Result, int Attempts)> SendAsync(
        IPushProvider provider,
        PushMessage message,
        Func<Task<bool>>? stillUseful,
        CancellationToken stop,
        CancellationToken cancellationToken)
    {
        var result = new PushResult(PushOutcome.Failed, Reason: "Expired");
        for (var attempt = 1; attempt <= maxAttempts; attempt++)
        {
            // A retry asks again whether the push is still useful (a ring whose call moved to another node ends there).
            if (stop.IsCancellationRequested || (attempt > 1 && stillUseful is not null && !await stillUseful()))
            {
                return (attempt == 1 ? new PushResult(PushOutcome.Failed, Reason: "Stopped") : result, attempt - 1);
            }

            if (time.GetUtcNow() >= message.ExpiresAt)
            {
                return (result, attempt - 1);
            }

            result = await provider.SendOnceAsync(message, cancellationToken);
            if (result.Outcome != PushOutcome.Retry || attempt == maxAttempts)
            {
                return (result, attempt);
            }

            var delay = result.RetryAfter ?? Backoff(attempt);
            if (time.GetUtcNow() + delay >= message.ExpiresAt)
            {
                return (result, attempt);
            }

            using var wait = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, stop);
            try
            {
                await Task.Delay(delay, time, wait.Token);
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
            {
                return (result, attempt);
            }
        }

        return (result, maxAttempts);
    }

    private TimeSpan Backoff(int attempt)
    {
        var exponential = _firstDelay * Math.Pow(2, attempt - 1);
        var capped = exponential < _maxDelay ? exponential : _maxDelay;
        return capped * (0.5 + (Random.Shared.NextDouble() / 2));
    }
}
