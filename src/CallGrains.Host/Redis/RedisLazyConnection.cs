using StackExchange.Redis;

namespace CallGrains.Host.Redis;

/// <summary>
/// A connection of its own that reconnects by itself (a Redis restart must not need a silo restart), made on first use;
/// a failed attempt is not kept, the next use tries again.
/// </summary>
internal sealed class RedisLazyConnection : IAsyncDisposable
{
    private readonly ConfigurationOptions _options;
    private readonly Lock _gate = new();
    private Task<ConnectionMultiplexer>? _connecting;

    // Set once a connection is up: fire-and-forget commands, which must not wait, use it only then.
    private volatile ConnectionMultiplexer? _connection;

    public RedisLazyConnection(ConfigurationOptions redis)
    {
        _options = redis.Clone();
        _options.AbortOnConnectFail = false;
    }

    public Task<ConnectionMultiplexer> ConnectAsync()
    {
        lock (_gate)
        {
            if (_connecting is null || _connecting.IsFaulted || _connecting.IsCanceled)
            {
                _connecting = ConnectCoreAsync();
            }

            return _connecting;
        }
    }

    /// <summary>
    /// Sends a command without waiting; before the first connection is up, once it is (a process whose only commands
    /// are these must not lose them all). Never throws.
    /// </summary>
    public void FireAndForget(Action<IDatabase> command)
    {
        if (_connection is { } connection)
        {
            Send(connection, command);
        }
        else
        {
            _ = SendWhenConnectedAsync(command);
        }
    }

    private async Task SendWhenConnectedAsync(Action<IDatabase> command)
    {
        try
        {
            Send(await ConnectAsync(), command);
        }
        catch (Exception ex) when (ex is RedisException or ObjectDisposedException or InvalidOperationException)
        {
            // Best effort by contract: the callers say what covers a lost command.
        }
    }

    private static void Send(ConnectionMultiplexer connection, Action<IDatabase> command)
    {
        try
        {
            command(connection.GetDatabase());
        }
        catch (Exception ex) when (ex is RedisException or ObjectDisposedException or InvalidOperationException)
        {
            // Best effort by contract: the callers say what covers a lost command.
        }
    }

    private async Task<ConnectionMultiplexer> ConnectCoreAsync() => _connection = await ConnectionMultiplexer.ConnectAsync(_options);

    public async ValueTask DisposeAsync()
    {
        if (_connection is { } connection)
        {
            await connection.DisposeAsync();
        }
    }
}
