using CallGrains.Abstractions;
using CallGrains.Grains.Delivery;
using Microsoft.Extensions.Logging;

namespace CallGrains.Grains;

/// <summary>
/// Which users have devices on which gateway, kept outside the silos (Redis in production). When a gateway's silo
/// dies without a goodbye, nobody else knows whose sockets it held: this index does, so every user that had a device
/// there is told (<see cref="IUserGrain.GatewayLost"/>), loses it, and, with no device left, gets the disconnect grace
/// and then leaves their call, even when that user's grain lived on the dead silo too and nobody ever calls them again.
/// </summary>
public interface IPresenceIndex
{
    /// <summary>Whether entries outlive the silos; an index in silo memory is no use when a silo dies, and is not swept.</summary>
    bool Durable { get; }

    /// <summary>Records that <paramref name="uid"/> has a device on the gateway; done before the device is stored.</summary>
    Task AddAsync(string gatewayId, string uid);

    /// <summary>Forgets the user on that gateway. Best effort and never throws: a stale entry costs one idle wake-up.</summary>
    void Remove(string gatewayId, string uid);

    /// <summary>Every gateway that has (or had) an entry.</summary>
    Task<IReadOnlyList<string>> GatewaysAsync();

    /// <summary>Up to <paramref name="max"/> users recorded on the gateway.</summary>
    Task<IReadOnlyList<string>> MembersAsync(string gatewayId, int max);

    /// <summary>Drops a gateway with no user left from <see cref="GatewaysAsync"/>; returns whether it was empty.</summary>
    Task<bool> ForgetIfEmptyAsync(string gatewayId);
}

/// <summary>The embedded default: one silo, whose death is everyone's; nothing to index.</summary>
public sealed class NoPresenceIndex : IPresenceIndex
{
    public bool Durable => false;

    public Task AddAsync(string gatewayId, string uid) => Task.CompletedTask;

    public void Remove(string gatewayId, string uid)
    {
    }

    public Task<IReadOnlyList<string>> GatewaysAsync() => Task.FromResult<IReadOnlyList<string>>([]);

    public Task<IReadOnlyList<string>> MembersAsync(string gatewayId, int max) => Task.FromResult<IReadOnlyList<string>>([]);

    public Task<bool> ForgetIfEmptyAsync(string gatewayId) => Task.FromResult(true);
}

/// <summary>
/// Every second, each silo looks for gateways of the presence index whose silo cluster membership has
/// declared dead, and tells each user recorded there (one-way, up to <see cref="Batch"/> per gateway and sweep). A user
/// removes its own entry when it has dropped its devices there, so a gateway whose users were all told empties and is
/// forgotten; users not yet done are told again after <see cref="Retry"/> (a wake-up can be lost with another silo).
/// Bound: a dead gateway's users hear of it within one interval of the declaration (docs/reliability.md).
/// </summary>
public sealed partial class PresenceSweeper(
    IPresenceIndex index,
    IGrainFactory grains,
    IClusterMembershipService membership,
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
            if (!Gateways.IsDead(membership, gatewayId)
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
