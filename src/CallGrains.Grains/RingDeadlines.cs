using CallGrains.Abstractions;
using Microsoft.Extensions.Logging;

namespace CallGrains.Grains;

/// <summary>
/// Ids with a due time, kept outside the silos (Redis in production), so that something that must happen to a grain
/// happens even when the silo holding it dies: every silo's <see cref="RingDeadlineSweeper"/> wakes the ids that are
/// past due, and a woken grain is activated on a live silo.
/// </summary>
public interface IDeadlineIndex
{
    /// <summary>Whether entries outlive the silos; an index in silo memory is no backstop and is not swept.</summary>
    bool Durable { get; }

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

/// <summary>The embedded default: grains live and die with the one silo, so their grain timers are enough.</summary>
public sealed class NoDeadlines : IRingDeadlines, IGraceDeadlines
{
    public bool Durable => false;

    public Task AddAsync(string id, DateTimeOffset due) => Task.CompletedTask;

    public void Schedule(string id, DateTimeOffset due)
    {
    }

    public void Remove(string id)
    {
    }

    public Task<IReadOnlyList<string>> ClaimDueAsync(DateTimeOffset before, int max, DateTimeOffset retryAt) => Task.FromResult<IReadOnlyList<string>>([]);

    public Task<IReadOnlyList<string>> ListAsync(int max) => Task.FromResult<IReadOnlyList<string>>([]);
}

/// <summary>
/// Once a second, wakes every session of the <see cref="IRingDeadlines"/> index and every user of the
/// <see cref="IGraceDeadlines"/> index that is past due by more than <see cref="Grace"/>. A grain on a live silo has
/// acted by its own timer by then and removed its entry, so what is left is a grain whose silo died, or an entry whose
/// removal was lost. Every silo sweeps and claims what it wakes (pushed back by <see cref="Retry"/>), so silos share a
/// backlog instead of repeating it; the checks are idempotent, and any one live silo is enough. Wake-ups are one-way,
/// so a silo that is dead but not yet declared so cannot stall a sweep.
/// </summary>
public sealed partial class RingDeadlineSweeper(
    IRingDeadlines deadlines,
    IGraceDeadlines graces,
    IGrainFactory grains,
    TimeProvider time,
    ILogger<RingDeadlineSweeper> logger) : SiloSweeper(time)
{
    public static readonly TimeSpan Grace = TimeSpan.FromSeconds(2);

    /// <summary>When a woken id that is still indexed is woken again (its silo may not have been declared dead yet).</summary>
    public static readonly TimeSpan Retry = TimeSpan.FromSeconds(5);

    /// <summary>Ids woken per index and sweep at most; more wait for the next second.</summary>
    public const int Batch = 500;

    protected override TimeSpan Interval => TimeSpan.FromSeconds(1);

    protected override bool Enabled => deadlines.Durable || graces.Durable;

    protected override async Task SweepAsync(DateTimeOffset now)
    {
        var due = await deadlines.ClaimDueAsync(now - Grace, Batch, now + Retry - Grace);
        foreach (var sessionId in due)
        {
            grains.Ref<ICallSessionGrain>(sessionId).CheckDeadline().Ignore();
        }

        var gone = await graces.ClaimDueAsync(now - Grace, Batch, now + Retry - Grace);
        foreach (var uid in gone)
        {
            grains.Ref<IUserGrain>(uid).CheckGrace().Ignore();
        }

        if (due.Count + gone.Count > 0)
        {
            LogWoken(due.Count, gone.Count);
        }
    }

    // The store is unreachable for now: the entries wait for a later sweep.
    protected override void OnSweepFailed(Exception exception) => LogSweepFailed(exception);

    [LoggerMessage(20, LogLevel.Information, "Woke {Calls} calls and {Users} users past due")]
    private partial void LogWoken(int calls, int users);

    [LoggerMessage(21, LogLevel.Warning, "Sweeping the wake-up indexes failed; retrying next interval")]
    private partial void LogSweepFailed(Exception exception);
}
