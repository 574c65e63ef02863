using System.Collections.Immutable;
using CallGrains.Abstractions;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace CallGrains.Gateway.Sockets;

/// <summary>
/// An edge gateway's link to the cluster (<c>Orleans:Role=edge</c>): it makes the observer silos deliver to, takes its
/// lease before it serves a socket and renews it every <see cref="EdgeLeases.RenewInterval"/>, restores its devices
/// when it finds the lease lapsed (a pause long enough for the silos to drop them), and on stop closes its sockets with
/// 1012 and gives the lease up.
/// </summary>
internal sealed class EdgeLifecycle(
    IGrainFactory grains,
    GatewayIdentity gateway,
    ConnectionRegistry registry,
    IHostApplicationLifetime lifetime,
    TimeProvider time,
    ILogger<EdgeLifecycle> logger) : IHostedService, IEdgeObserver, IDisposable
{
    // Devices restored at once after a lapsed lease: 50,000 sockets take about a second, and the cluster sees no burst.
    private const int RestoreParallelism = 64;

    private readonly CancellationTokenSource _stop = new();
    private IEdgeObserver? _reference;
    private Task? _renewing;
    private long _renewedAtTicks;
    private int _restoring;

    /// <summary>Whether the lease was renewed within its time to live: the silos count this edge's sockets.</summary>
    public bool Leased => time.GetUtcNow().UtcTicks - Interlocked.Read(ref _renewedAtTicks) < EdgeLeases.Ttl.Ticks;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        _reference = grains.CreateObjectReference<IEdgeObserver>(this);
        await RenewAsync(first: true);
        logger.EdgeLeased(gateway.Id);
        lifetime.ApplicationStopping.Register(() => GatewayLifecycle.Drain(registry, logger));
        _renewing = Task.Run(() => RenewLoopAsync(_stop.Token), CancellationToken.None);
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await _stop.CancelAsync();
        if (_renewing is not null)
        {
            await _renewing.WaitAsync(cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }

        try
        {
            // The sockets are closed by now: nothing is left for the silos to reach here.
            await grains.Ref<IEdgeRegistryGrain>(IEdgeRegistryGrain.Key).Leave(gateway.Id).WaitAsync(TimeSpan.FromSeconds(5), cancellationToken);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // The lease lapses by itself.
            logger.EdgeRenewFailed(ex, gateway.Id);
        }

        if (_reference is not null)
        {
            grains.DeleteObjectReference<IEdgeObserver>(_reference);
        }
    }

    public void Dispose() => _stop.Dispose();

    public Task Deliver(GatewayDelivery delivery) => registry.DeliverAsync(delivery);

    public Task<ImmutableArray<HeldDevice>> HeldDevices(string uid) => Task.FromResult(registry.Held(uid));

    private async Task RenewLoopAsync(CancellationToken stop)
    {
        using var timer = new PeriodicTimer(EdgeLeases.RenewInterval, time);
        while (!stop.IsCancellationRequested)
        {
            try
            {
                await timer.WaitForNextTickAsync(stop);
                await RenewAsync(first: false);
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                logger.EdgeRenewFailed(ex, gateway.Id);
            }
        }
    }

    private async Task RenewAsync(bool first)
    {
        var live = await grains.Ref<IEdgeRegistryGrain>(IEdgeRegistryGrain.Key).Renew(gateway.Id, _reference!)
            .WaitAsync(EdgeLeases.RenewInterval * 2);
        Interlocked.Exchange(ref _renewedAtTicks, time.GetUtcNow().UtcTicks);
        if (!live && !first && Interlocked.CompareExchange(ref _restoring, 1, 0) == 0)
        {
            // Off the renewals, which must go on meanwhile.
            _ = Task.Run(RestoreTwiceAsync, CancellationToken.None);
        }
    }

    /// <summary>
    /// Not at once: until every silo has read the renewed lease (once a second), a silo may still take this edge for
    /// dead and drop a device just restored. Three reads later they have seen it; a busy silo that read late is caught
    /// by a second pass (restoring a registered device changes nothing).
    /// </summary>
    private async Task RestoreTwiceAsync()
    {
        try
        {
            await Task.Delay(EdgeLeases.SiloReadInterval * 3, time);
            await RestoreAsync();
            await Task.Delay(EdgeLeases.SiloReadInterval * 10, time);
            await RestoreAsync();
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            logger.EdgeRenewFailed(ex, gateway.Id);
        }
        finally
        {
            Volatile.Write(ref _restoring, 0);
        }
    }

    /// <summary>
    /// The silos may have dropped this edge's devices while its lease was lapsed: each socket still open is put back
    /// with its epoch; one that cannot be (its token revoked, its device registered again elsewhere) is closed with
    /// 1012, and its client reconnects and registers afresh.
    /// </summary>
    private async Task RestoreAsync()
    {
        var open = registry.All().Where(c => !c.IsClosing).ToList();
        var restored = 0;
        await Parallel.ForEachAsync(open, new ParallelOptions { MaxDegreeOfParallelism = RestoreParallelism }, async (connection, _) =>
        {
            bool ok;
            try
            {
                ok = await grains.Ref<IUserGrain>(connection.Uid).RestoreDevice(connection.DeviceId, gateway.Id, connection.Epoch, connection.TokenGeneration);
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                logger.EdgeRenewFailed(ex, gateway.Id);
                ok = false;
            }

            if (ok)
            {
                Interlocked.Increment(ref restored);
            }
            else
            {
                connection.Close(CloseCodes.ServiceRestart, "service restart: reconnect");
            }
        });

        logger.EdgeRestored(gateway.Id, restored, open.Count);
    }
}

/// <summary>An edge is ready while its lease is: a lapsed one means the silos may not count its sockets.</summary>
internal sealed class EdgeLeaseCheck(EdgeLifecycle edge) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(
        HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(edge.Leased
            ? HealthCheckResult.Healthy()
            : HealthCheckResult.Unhealthy("the edge's lease is not renewed: the cluster is out of reach"));
}
