using CallGrains.Client.Protocol;

namespace CallGrains.Bench;

/// <summary>The bench's sockets: the SDK's protocol connection, reading only the routing fields of each message.</summary>
internal static class BenchSocket
{
    // A ring of 100 is 100 messages of a few KiB each, read on the same cores as the server being measured: no document per message.
    public static async Task<ProtocolConnection> ConnectAsync(Uri server, string token, bool read = true)
    {
        var connection = await ProtocolConnection.OpenAsync(new ProtocolConnectionOptions
        {
            Server = server,
            Token = token,
            KeepJson = false,
            KeepAliveInterval = TimeSpan.FromSeconds(20),
        });
        if (read)
        {
            connection.Start();
        }

        return connection;
    }

    /// <summary>Throws unless <paramref name="response"/> is ok.</summary>
    public static ProtocolMessage Ensure(this ProtocolMessage response, string op) =>
        response.Ok ? response : throw new InvalidOperationException($"{op}: {response.ErrorCode}");
}
