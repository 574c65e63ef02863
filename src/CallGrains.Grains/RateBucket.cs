namespace CallGrains.Grains;

/// <summary>
/// A token bucket, pure: <see cref="Capacity"/> tokens at most, refilled at <see cref="PerMinute"/> a minute, one taken
/// per action. Held in memory by the one grain that owns what it limits (a user, a group), on the grain's clock.
/// </summary>
[GenerateSerializer, Immutable, Alias("cg.RateBucket")]
public sealed record RateBucket(
    [property: Id(0)] int Capacity,
    [property: Id(1)] int PerMinute,
    [property: Id(2)] double Tokens,
    [property: Id(3)] DateTimeOffset At)
{
    public static RateBucket Full(int capacity, int perMinute, DateTimeOffset now) => new(capacity, perMinute, capacity, now);

    /// <summary>The bucket after taking one token at <paramref name="now"/>, or null when it is empty.</summary>
    public RateBucket? Take(DateTimeOffset now)
    {
        var elapsed = Math.Max(0, (now - At).TotalMinutes);
        var tokens = Math.Min(Capacity, Tokens + (elapsed * PerMinute));
        return tokens >= 1 ? this with { Tokens = tokens - 1, At = now > At ? now : At } : null;
    }

    /// <summary>The bucket with one token given back (the action it was taken for did not happen), never past full.</summary>
    public RateBucket GiveBack() => this with { Tokens = Math.Min(Capacity, Tokens + 1) };
}
