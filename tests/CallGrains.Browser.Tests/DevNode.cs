using CallGrains.Host;
using Microsoft.AspNetCore.Builder;

namespace CallGrains.Browser.Tests;

/// <summary>A real node (silo + gateway) on loopback ports, in the environment a test asks for, stopped by the test.</summary>
public sealed class DevNode : IAsyncDisposable
{
    private readonly WebApplication _app;

    private DevNode(WebApplication app, int httpPort)
    {
        _app = app;
        BaseUri = new Uri($"http://127.0.0.1:{httpPort}");
    }

    public Uri BaseUri { get; }

    /// <summary>Starts a node in <paramref name="environment"/> (the demo page and /dev exist in Development only).</summary>
    public static async Task<DevNode> StartAsync(string environment, params string[] extra)
    {
        var http = FreePort();
        var app = CallGrainsApp.Build(
        [
            $"--urls=http://127.0.0.1:{http}",
            $"--environment={environment}",
            "--Auth:AdminKey=browser-test-admin-key-0123456789abcdef-0123",
            $"--Orleans:SiloPort={FreePort()}",
            $"--Orleans:GatewayPort={FreePort()}",
            "--Logging:LogLevel:Default=Warning",
            "--Logging:LogLevel:Microsoft.AspNetCore=Warning",
            .. extra,
        ]);
        await app.StartAsync();
        return new DevNode(app, http);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    // Below the ephemeral range and never one this process handed out already (see LocalCluster.Ports).
    private static int FreePort() => LocalCluster.Ports.Free();
}
