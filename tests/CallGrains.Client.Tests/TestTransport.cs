using System.Text;
using CallGrains.Client.Internal;
using CallGrains.Client.Protocol;

namespace CallGrains.Client.Tests;

/// <summary>Real sockets, with what tests need around them: events lost on the way, messages made up, opens and resyncs counted.</summary>
internal sealed class TestTransport : IClientTransport
{
    private int _connectAttempts;
    private int _syncsStarted;
    private int _dropEvents;
    private int _eventsDropped;
    private volatile ProtocolConnection? _connection;
    private volatile Action<ProtocolMessage>? _handle;

    public int ConnectAttempts => Volatile.Read(ref _connectAttempts);

    public int SyncsStarted => Volatile.Read(ref _syncsStarted);

    public int EventsDropped => Volatile.Read(ref _eventsDropped);

    public Task<ProtocolConnection> OpenAsync(ProtocolConnectionOptions options, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _connectAttempts);
        return ProtocolConnection.OpenAsync(options, cancellationToken);
    }

    public void Start(ProtocolConnection connection, Action<ProtocolMessage> handle)
    {
        _connection = connection;
        _handle = handle;
        connection.Start(message =>
        {
            if (IsNumberedEvent(message) && TryDrop())
            {
                return;
            }

            handle(message);
        });
    }

    public void ResyncStarted() => Interlocked.Increment(ref _syncsStarted);

    /// <summary>The next <paramref name="count"/> numbered events are dropped as if lost on the way.</summary>
    public void DropNextEvents(int count) => Interlocked.Add(ref _dropEvents, count);

    /// <summary>Handles a message as if the server had sent it (a repeated event, say).</summary>
    public void Inject(string json) => (_handle ?? throw new InvalidOperationException("not connected"))(ProtocolMessage.Parse(Encoding.UTF8.GetBytes(json)));

    /// <summary>Drops the socket without a close handshake, as a device losing its network would.</summary>
    public void Abort() => _connection?.Abort();

    // Only events the client checks against its seq can be lost in a way it must notice: signals are not numbered.
    private static bool IsNumberedEvent(ProtocolMessage message) =>
        message.Event is not null and not "signal" && message.Seq is not null
        && message.Json.TryGetProperty("call", out var call) && call.ValueKind == System.Text.Json.JsonValueKind.Object;

    private bool TryDrop()
    {
        var left = Volatile.Read(ref _dropEvents);
        while (left > 0)
        {
            var seen = Interlocked.CompareExchange(ref _dropEvents, left - 1, left);
            if (seen == left)
            {
                Interlocked.Increment(ref _eventsDropped);
                return true;
            }

            left = seen;
        }

        return false;
    }
}

/// <summary>The hooks tests used to find on the client itself, now on its <see cref="TestTransport"/>.</summary>
internal static class TestHooks
{
    extension(CallGrainsClient client)
    {
        private TestTransport Hooks => client.Transport as TestTransport ?? throw new InvalidOperationException("connect with Users.ConnectAsync to get test hooks");

        public int ConnectAttempts => client.Hooks.ConnectAttempts;

        public int SyncsStarted => client.Hooks.SyncsStarted;

        public int EventsDropped => client.Hooks.EventsDropped;

        public void DropNextEvents(int count) => client.Hooks.DropNextEvents(count);

        public void HandleForTest(string json) => client.Hooks.Inject(json);

        public void AbortConnection() => client.Hooks.Abort();
    }
}
