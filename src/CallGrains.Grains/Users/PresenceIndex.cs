using CallGrains.Abstractions;

namespace CallGrains.Grains.Users;

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
