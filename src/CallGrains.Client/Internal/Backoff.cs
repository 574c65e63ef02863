namespace CallGrains.Client.Internal;

/// <summary>Exponential back-off with full jitter: attempt n waits a random time in [0, min(cap, base·2ⁿ)], never less than a floor.</summary>
internal sealed class Backoff(TimeSpan baseDelay, TimeSpan cap, TimeSpan floor)
{
    private const int MaxExponent = 30;

    public TimeSpan Delay(int attempt)
    {
        var ceiling = Math.Min(cap.TotalMilliseconds, baseDelay.TotalMilliseconds * Math.Pow(2, Math.Clamp(attempt, 0, MaxExponent)));
#pragma warning disable CA5394 // Jitter spreads reconnects out; it needs no secure randomness.
        var drawn = Random.Shared.NextDouble() * ceiling;
#pragma warning restore CA5394
        return TimeSpan.FromMilliseconds(Math.Max(drawn, floor.TotalMilliseconds));
    }
}
