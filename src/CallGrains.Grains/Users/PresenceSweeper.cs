using CallGrains.Abstractions;
using CallGrains.Grains.Deadlines;
using CallGrains.Grains.PushStreams;
using Microsoft.Extensions.Logging;

namespace CallGrains.Grains.Users;

/// <summary>
/// Every second, each silo looks for gateways of the presence index that are dead (a silo cluster membership has
/// declared dead, an edge whose lease has lapsed: <see cref="GatewayStatus"/>), and tells each user recorded there
/// (one-way, up to <see cref="Batch"/> per gateway and sweep). A user removes its own entry when it has dropped its devices there, so a gateway whose users were all told empties and is
/// forgotten; users not yet done are told again after <see cref="Retry"/> (a wake-up can be lost with another silo).
/// Bound: a dead gateway's users hear of it within one interval of the declaration (docs/reliability.md).
/// </summary>
public sealed partial class PresenceSweeper(
    IPresenceIndex index,
    IGrainFactory grains,
    GatewayStatus gatewayStatus,
    TimeProvider time,
    ILogger<PresenceSweeper> logger) : SiloSweeper(time)
{
    public static readonly TimeSpan Retry = TimeSpan.FromSeconds(10);

    public const int Batch = 1000;

    // Dead gateways this silo has told, and when: bounded by the gateways that died and are not yet emptied.
    private readonly Dictionary<string, DateTimeOffset> _told = [];

    protected override TimeSpan Interval => TimeSpan.FromSeconds(1);

    protected override bool Enabled => index.Durable;

    protected override void OnSweepFailed(Exception exception) => LogSweepFailed(exception);

    protected override async Task SweepAsync(DateTimeOffset now)
    {
        var gateways = await index.GatewaysAsync();
        foreach (var gatewayId in gateways)
        {
            if (!gatewayStatus.IsDead(gatewayId)
                || (_told.TryGetValue(gatewayId, out var last) && now - last < Retry))
            {
                continue;
            }

            var users = await index.MembersAsync(gatewayId, Batch);
            if (users.Count == 0 && await index.ForgetIfEmptyAsync(gatewayId))
            {
                _told.Remove(gatewayId);
                continue;
            }

            foreach (var uid in users)
            {
                grains.Ref<IUserGrain>(uid).GatewayLost(gatewayId).Ignore();
            }

            _told[gatewayId] = now;
            LogGatewayLost(gatewayId, users.Count);
        }

        // Gateways emptied by another silo's sweep leave this silo's memory too.
        foreach (var gone in _told.Keys.Except(gateways).ToList())
        {
            _told.Remove(gone);
        }
    }

    [LoggerMessage(30, LogLevel.Warning, "Gateway {GatewayId} is dead: told {Count} of its users")]
    private partial void LogGatewayLost(string gatewayId, int count);

    [LoggerMessage(31, LogLevel.Warning, "Sweeping the presence index failed; retrying next interval")]
    private partial void LogSweepFailed(Exception exception);
}
