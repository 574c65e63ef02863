using System.Diagnostics;
using System.Globalization;
using System.Net.WebSockets;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace CallGrains.Bench;

/// <summary>
/// The floor under the gateway's memory per idle socket: a bare ASP.NET Core server (Kestrel, the WebSocket
/// middleware, the same keep-alive as the gateway's defaults) whose sockets only wait for a frame with a zero-byte
/// read, measured with the same workers as the real gateway. No auth, no registry, no grains: what .NET itself keeps
/// per open WebSocket.
/// </summary>
internal static class Floor
{
    /// <summary>The bare server, in a process of its own: <c>floor-server --port P</c>.</summary>
    public static async Task<int> ServeAsync(int port)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
        var app = builder.Build();
        app.UseWebSockets();
        app.MapGet("/healthz", () => "Healthy");
        app.Map("/v1/ws", async (HttpContext http) =>
        {
            using var socket = await http.WebSockets.AcceptWebSocketAsync(new WebSocketAcceptContext
            {
                KeepAliveInterval = TimeSpan.FromSeconds(10),
                KeepAliveTimeout = TimeSpan.FromSeconds(30),
            });
            try
            {
                while (socket.State == WebSocketState.Open)
                {
                    var frame = await socket.ReceiveAsync(Memory<byte>.Empty, CancellationToken.None);
                    if (frame.MessageType == WebSocketMessageType.Close)
                    {
                        return;
                    }

                    var buffer = new byte[4096];
                    while (!(await socket.ReceiveAsync(buffer.AsMemory(), CancellationToken.None)).EndOfMessage)
                    {
                    }
                }
            }
            catch (WebSocketException)
            {
                // The worker went away.
            }
        });
        await app.RunAsync();
        return 0;
    }

    /// <summary>Starts the bare server and holds <c>--sockets</c> idle sockets on it.</summary>
    public static async Task<int> RunAsync(Options options)
    {
        var (server, url) = await StartAsync("floor-server", options.Int("port", 5190), []);
        using (server)
        {
            try
            {
                return (await Idle.RunAsync([url], "", options.Int("sockets", 15000), [server.Id], TimeSpan.FromSeconds(options.Int("snapshot-pause", 0)))).Print();
            }
            finally
            {
                server.Kill(entireProcessTree: true);
                await server.WaitForExitAsync();
            }
        }
    }

    /// <summary>
    /// Starts this program's <paramref name="command"/> (a bare server) in a process of its own with the host's
    /// runtime settings (its gen0 budget and thread-pool spin limit), and waits until it answers.
    /// </summary>
    public static async Task<(Process Server, Uri Url)> StartAsync(string command, int port, string[] arguments)
    {
        var self = Environment.ProcessPath!;
        var start = new ProcessStartInfo(self);
        if (Path.GetFileNameWithoutExtension(self) == "dotnet")
        {
            start.ArgumentList.Add(typeof(Floor).Assembly.Location);
        }

        start.ArgumentList.Add(command);
        start.ArgumentList.Add("--port");
        start.ArgumentList.Add(port.ToString(CultureInfo.InvariantCulture));
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        foreach (var (name, value) in CallGrains.LocalCluster.HostRuntime.Environment)
        {
            start.Environment.TryAdd(name, value);
        }

        // The host's runtimeconfig sets this (CallGrains.Host.csproj); the bench's does not.
        start.Environment.TryAdd("DOTNET_ThreadPool_UnfairSemaphoreSpinLimit", "A");
        var server = Process.Start(start) ?? throw new InvalidOperationException("could not start the bare server");
        var url = new Uri($"http://127.0.0.1:{port}");
        using var http = new HttpClient();
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            try
            {
                (await http.GetAsync(new Uri(url, "/healthz"))).EnsureSuccessStatusCode();
                break;
            }
            catch (HttpRequestException) when (DateTime.UtcNow < deadline)
            {
                await Task.Delay(200);
            }
        }

        Console.WriteLine($"bare ASP.NET Core server ({command}) pid {server.Id} at {url}");
        return (server, url);
    }
}
