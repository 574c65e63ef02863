namespace CallGrains.Grains.Deadlines;

/// <summary>
/// Ids with a due time, kept outside the silos (Redis in production), so that something that must happen to a grain
/// happens even when the silo holding it dies: every silo's <see cref="RingDeadlineSweeper"/> wakes the ids that are
/// past due, and a woken grain is activated on a live silo.
/// </summary>
public interface IDeadlineIndex
{
    /// <summary>Whether entries outlive the silos; an index in silo memory is no backstop and is not swept.</summary>
    bool Durable { get; }

    /// <summary>
    /// Whether the grain storage writes the entries of <see cref="IIndexedState"/> states with the states themselves
    /// (Redis: in the same script), so a grain does not add them before its writes (<see cref="AddAsync"/>) nor
    /// remove them after a clear.
    /// </summary>
    bool WrittenWithState { get; }

    /// <summary>Records (or moves) an entry. Awaited where no stored state may lack its entry.</summary>
    Task AddAsync(string id, DateTimeOffset due);

    /// <summary>Moves an entry, best effort and without waiting: a later sweep finds it at its old time otherwise.</summary>
    void Schedule(string id, DateTimeOffset due);

    /// <summary>Forgets an entry. Best effort and never throws: an entry left behind is swept and dropped.</summary>
    void Remove(string id);

    /// <summary>
    /// Up to <paramref name="max"/> ids due before <paramref name="before"/>, earliest first, each pushed back to
    /// <paramref name="retryAt"/> in the same step: other silos' sweeps take the next ones, and an id whose grain does
    /// not act on the wake-up (its silo is dead but not yet declared so) comes round again then.
    /// </summary>
    Task<IReadOnlyList<string>> ClaimDueAsync(DateTimeOffset before, int max, DateTimeOffset retryAt);

    /// <summary>Up to <paramref name="max"/> indexed ids, earliest first, changing nothing: for operators and tests.</summary>
    Task<IReadOnlyList<string>> ListAsync(int max);
}

/// <summary>
/// Call sessions to wake: a ringing call at its ring deadline, and a call whose last transition's updates may not
/// have reached its parties (its outbox) a few seconds after the transition. This replaces an Orleans reminder per
/// call, which cost two calls to the reminder service's silo, three Redis operations and a timer (docs/benchmarks.md).
/// </summary>
public interface IRingDeadlines : IDeadlineIndex;

/// <summary>Users whose disconnect grace ends: a user with no device left in a call is let go even if its silo died.</summary>
public interface IGraceDeadlines : IDeadlineIndex;
