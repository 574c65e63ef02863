using CallGrains.Abstractions;
using Microsoft.Extensions.Logging;

namespace CallGrains.Grains;

/// <summary>
/// Ringing calls by deadline, kept outside the silos (Redis in production), so that a ringing call still becomes
/// unanswered when the silo holding it dies: every silo's <see cref="RingDeadlineSweeper"/> wakes the calls that are
/// past due, and a woken call is activated on a live silo. This replaces an Orleans reminder per call, which cost
/// two calls to the reminder service's silo, three Redis operations and a timer per call (docs/benchmarks.md).
/// </summary>
public interface IRingDeadlines
{
    /// <summary>Whether entries outlive the silos; an index in silo memory is no backstop and is not swept.</summary>
    bool Durable { get; }

    /// <summary>Records a ringing call. Done before the call is stored as ringing, so no stored ringing call lacks its entry.</summary>
    Task AddAsync(string sessionId, DateTimeOffset deadline);

    /// <summary>Forgets a call that stopped ringing. Best effort and never throws: an entry left behind is swept.</summary>
    void Remove(string sessionId);

    /// <summary>
    /// Up to <paramref name="max"/> calls whose deadline is before <paramref name="before"/>, earliest first, each
    /// pushed back to <paramref name="retryAt"/> in the same step: other silos' sweeps take the next ones, and a call
    /// that does not settle (its silo is dead but not yet declared so) comes round again then.
    /// </summary>
    Task<IReadOnlyList<string>> ClaimDueAsync(DateTimeOffset before, int max, DateTimeOffset retryAt);

    /// <summary>Up to <paramref name="max"/> indexed calls, earliest deadline first, changing nothing: for operators and tests.</summary>
    Task<IReadOnlyList<string>> ListAsync(int max);
}

/// <summary>The embedded default: calls live and die with the one silo, so their grain timers are enough.</summary>
public sealed class NoRingDeadlines : IRingDeadlines
{
    public bool Durable => false;

    public Task AddAsync(string sessionId, DateTimeOffset deadline) => Task.CompletedTask;

    public void Remove(string sessionId)
    {
    }

    public Task<IReadOnlyList<string>> ClaimDueAsync(DateTimeOffset before, int max, DateTimeOffset retryAt) => Task.FromResult<IReadOnlyList<string>>([]);

    public Task<IReadOnlyList<string>> ListAsync(int max) => Task.FromResult<IReadOnlyList<string>>([]);
}

/// <summary>
/// Once a second, asks every call that is past its ring deadline by more than <see cref="Grace"/> to check itself.
/// A call on a live silo has timed itself out by then (its grain timer) and removed its entry, so what is left is a
/// call whose silo died, or an entry whose removal was lost. Every silo sweeps and claims what it wakes (pushed back
/// by <see cref="Retry"/>), so silos share a backlog instead of repeating it; the check is idempotent, and any one
/// live silo is enough. The wake-up is one-way, so a silo that is dead but not yet declared so cannot stall a sweep.
/// </summary>
public sealed partial class RingDeadlineSweeper(
    IRingDeadlines deadlines,
    IGrainFactory grains,
    TimeProvider time,
    ILogger<RingDeadlineSweeper> logger) : ILifecycleParticipant<ISiloLifecycle>, IDisposable
{
    public static readonly TimeSpan Interval = TimeSpan.FromSeconds(1);

    public static readonly TimeSpan Grace = TimeSpan.FromSeconds(2);

    /// <summary>When a woken call that is still indexed is woken again (its silo may not have been declared dead yet).</summary>
    public static readonly TimeSpan Retry = TimeSpan.FromSeconds(5);

    /// <summary>Calls woken per sweep at most; more wait for the next second.</summary>
    public const int Batch = 500;

    private readonly CancellationTokenSource _stop = new();
    private Task? _loop;

    public void Participate(ISiloLifecycle lifecycle) =>
        lifecycle.Subscribe(nameof(RingDeadlineSweeper), ServiceLifecycleStage.Active, Start, Stop);

    private Task Start(CancellationToken cancellationToken)
    {
        if (deadlines.Durable)
        {
            _loop = Task.Run(() => LoopAsync(_stop.Token), CancellationToken.None);
        }

        return Task.CompletedTask;
    }

    private async Task Stop(CancellationToken cancellationToken)
    {
        await _stop.CancelAsync();
        if (_loop is not null)
        {
            await _loop.WaitAsync(cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
    }

    public void Dispose() => _stop.Dispose();

    private async Task LoopAsync(CancellationToken stop)
    {
        using var timer = new PeriodicTimer(Interval, time);
        while (!stop.IsCancellationRequested)
        {
            try
            {
                await timer.WaitForNextTickAsync(stop);
                var now = time.GetUtcNow();
                var due = await deadlines.ClaimDueAsync(now - Grace, Batch, now + Retry - Grace);
                foreach (var sessionId in due)
                {
                    grains.GetGrain<ICallSessionGrain>(sessionId).CheckDeadline().Ignore();
                }

                if (due.Count > 0)
                {
                    LogWoken(due.Count);
                }
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                // The store is unreachable for now: the entries wait for a later sweep.
                LogSweepFailed(ex);
            }
        }
    }

    [LoggerMessage(20, LogLevel.Information, "Woke {Count} calls past their ring deadline")]
    private partial void LogWoken(int count);

    [LoggerMessage(21, LogLevel.Warning, "Sweeping ring deadlines failed; retrying next interval")]
    private partial void LogSweepFailed(Exception exception);
}
