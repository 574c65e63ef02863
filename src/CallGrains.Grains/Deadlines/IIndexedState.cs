namespace CallGrains.Grains.Deadlines;

/// <summary>
/// A grain state that carries its own entry in a durable wake-up index (<see cref="IDeadlineIndex"/>). A store that can
/// (the Redis store: one script) writes the entry in the same step as the state, keyed by the grain's key: the entry
/// is added or moved to <see cref="WakeAt"/>, or removed when it is null, and removed when the state is cleared. The
/// index says so with <see cref="IDeadlineIndex.WrittenWithState"/>; the grain then leaves the write to the store.
/// </summary>
public interface IIndexedState
{
    /// <summary>The index the entry is in (<see cref="DeadlineIndexNames"/>).</summary>
    string IndexName { get; }

    /// <summary>When the grain must be woken if nothing else happens first; null for no entry.</summary>
    DateTimeOffset? WakeAt { get; }
}

/// <summary>The durable wake-up indexes, by the last part of their key.</summary>
public static class DeadlineIndexNames
{
    /// <summary>Call sessions (<see cref="IRingDeadlines"/>).</summary>
    public const string Ringing = "ringing";

    /// <summary>Users in their disconnect grace (<see cref="IGraceDeadlines"/>).</summary>
    public const string Grace = "grace";

    /// <summary>The index's key in a store shared by the service's silos.</summary>
    public static string Key(string serviceId, string name) => $"callgrains:{serviceId}:{name}";
}
