using CallGrains.Abstractions;
using Microsoft.Extensions.Logging;

namespace CallGrains.Grains.Deadlines;

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
