using CallGrains.Abstractions;
using CallGrains.Gateway.Auth;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace CallGrains.Gateway.Sockets;

/// <summary>
/// One periodic pass over the gateway instead of a timer per socket: closes sockets whose auth token has expired
/// (4001, as a revocation; at most <c>Gateway:SweepIntervalSeconds</c> late) and forgets rate-limit buckets that
/// have refilled. A pass costs one comparison per open socket.
/// </summary>
internal sealed class GatewaySweep(
    ConnectionRegistry registry,
    RestRateLimit rest,
    IOptions<GatewayOptions> options,
    [FromKeyedServices(GatewayHosting.ClockKey)] TimeProvider clock,
    ILogger<GatewaySweep> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(options.Value.SweepIntervalSeconds), clock);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                Sweep();
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    private void Sweep()
    {
        var now = clock.GetUtcNow();
        foreach (var connection in registry.All())
        {
            if (connection.TokenExpiresAt <= now && !connection.IsClosing)
            {
                logger.TokenExpired(connection.Uid, connection.DeviceId);
                connection.Close(CloseCodes.Revoked, "auth token expired");
            }
        }

        rest.ForgetIdle();
    }
}
