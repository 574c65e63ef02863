namespace CallGrains.Grains.Deadlines;

/// <summary>
/// A loop every silo runs while it is active: once per <see cref="Interval"/>, one <see cref="SweepAsync"/>. A sweep
/// that fails (the store unreachable for now) is reported and tried again at the next tick; stopping the silo ends
/// the loop without waiting for more than the current sweep.
/// </summary>
public abstract class SiloSweeper(TimeProvider time) : ILifecycleParticipant<ISiloLifecycle>, IDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private Task? _loop;

    protected abstract TimeSpan Interval { get; }

    /// <summary>Whether there is anything to sweep (indexes in silo memory are not swept).</summary>
    protected abstract bool Enabled { get; }

    protected abstract Task SweepAsync(DateTimeOffset now);

    protected abstract void OnSweepFailed(Exception exception);

    public void Participate(ISiloLifecycle lifecycle) =>
        lifecycle.Subscribe(GetType().Name, ServiceLifecycleStage.Active, Start, Stop);

    private Task Start(CancellationToken cancellationToken)
    {
        if (Enabled)
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

    public void Dispose()
    {
        _stop.Dispose();
        GC.SuppressFinalize(this);
    }

    private async Task LoopAsync(CancellationToken stop)
    {
        using var timer = new PeriodicTimer(Interval, time);
        while (!stop.IsCancellationRequested)
        {
            try
            {
                await timer.WaitForNextTickAsync(stop);
                await SweepAsync(time.GetUtcNow());
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                OnSweepFailed(ex);
            }
        }
    }
}
