using System.Net;
using System.Net.Sockets;

namespace CallGrains.LocalCluster;

public static class Ports
{
    // Ports handed out by this process, so that two asks before either port is bound get different ones.
    private const int MaxRemembered = 4096;
    private static readonly HashSet<int> Given = [];

    /// <summary>
    /// A port free on 127.0.0.1 now, below the kernel's ephemeral range: a port the kernel picked from that range (port
    /// 0) can be taken by any outgoing connection in the moment between this check and the host binding it, which a
    /// bench with a hundred sockets did.
    /// </summary>
    public static int Free()
    {
        var below = EphemeralLow();
        lock (Given)
        {
            if (Given.Count >= MaxRemembered)
            {
                Given.Clear();
            }

            for (var attempt = 0; attempt < 200 && below > 12_000; attempt++)
            {
                var port = Random.Shared.Next(10_000, below);
                if (!Given.Contains(port) && CanBind(port))
                {
                    Given.Add(port);
                    return port;
                }
            }

            using var listener = new TcpListener(IPAddress.Loopback, 0);
            listener.Start();
            var picked = ((IPEndPoint)listener.LocalEndpoint).Port;
            Given.Add(picked);
            return picked;
        }
    }

    private static bool CanBind(int port)
    {
        try
        {
            using var listener = new TcpListener(IPAddress.Loopback, port);
            listener.Start();
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    /// <summary>The first port of the range the kernel gives outgoing connections (Linux; 32768 where it cannot be read).</summary>
    private static int EphemeralLow()
    {
        try
        {
            var range = File.ReadAllText("/proc/sys/net/ipv4/ip_local_port_range").Split((char[])['\t', ' ', '\n'], StringSplitOptions.RemoveEmptyEntries);
            return int.Parse(range[0], System.Globalization.CultureInfo.InvariantCulture);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException)
        {
            return 32_768;
        }
    }

    /// <summary>Whether a Redis server answers PING on the port (a password-protected one answers NOAUTH: it is up too).</summary>
    public static async Task<bool> AnswersPingAsync(int port)
    {
        try
        {
            using var client = new TcpClient();
            await client.ConnectAsync(IPAddress.Loopback, port);
            var stream = client.GetStream();
            await stream.WriteAsync("PING\r\n"u8.ToArray());
            var buffer = new byte[16];
            var read = await stream.ReadAsync(buffer).AsTask().WaitAsync(TimeSpan.FromSeconds(1));
            return read > 0 && (buffer[0] == (byte)'+' || buffer.AsSpan(0, read).StartsWith("-NOAUTH"u8));
        }
        catch (Exception ex) when (ex is SocketException or IOException or TimeoutException)
        {
            return false;
        }
    }
}
