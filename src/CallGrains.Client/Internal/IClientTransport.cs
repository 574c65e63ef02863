using CallGrains.Client.Protocol;

namespace CallGrains.Client.Internal;

/// <summary>
/// What <see cref="CallGrainsClient"/> reaches the server through: opening a connection, and the messages read off it.
/// Tests put their own in its place to lose, inject or count what passes.
/// </summary>
internal interface IClientTransport
{
    Task<ProtocolConnection> OpenAsync(ProtocolConnectionOptions options, CancellationToken cancellationToken);

    /// <summary>Starts reading <paramref name="connection"/>, each message to <paramref name="handle"/> in arrival order.</summary>
    void Start(ProtocolConnection connection, Action<ProtocolMessage> handle);

    /// <summary>A seq gap (or a response jumping ahead) started a resync.</summary>
    void ResyncStarted();
}

/// <summary>The real thing: sockets, and every message as it came.</summary>
internal sealed class SocketTransport : IClientTransport
{
    public static readonly SocketTransport Instance = new();

    public Task<ProtocolConnection> OpenAsync(ProtocolConnectionOptions options, CancellationToken cancellationToken) =>
        ProtocolConnection.OpenAsync(options, cancellationToken);

    public void Start(ProtocolConnection connection, Action<ProtocolMessage> handle) => connection.Start(handle);

    public void ResyncStarted()
    {
    }
}
