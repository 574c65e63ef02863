using CallGrains.Host;
using Microsoft.AspNetCore.Builder;

namespace CallGrains.Gateway.Tests;

/// <summary>One real node (silo + gateway) listening on loopback ports, started and stopped by the test.</summary>
public sealed class GatewayNode : IAsyncDisposable
{
    public const string AdminKey = Admin.DefaultKey;

    private readonly WebApplication _app;
    private bool _stopped;

    private GatewayNode(WebApplication app, int httpPort, int siloPort, int gatewayPort)
    {
        _app = app;
        HttpPort = httpPort;
        SiloPort = siloPort;
        GatewayPort = gatewayPort;
    }

    public int HttpPort { get; }

    public int SiloPort { get; }

    /// <summary>The silo's Orleans client gateway, where edges connect.</summary>
    public int GatewayPort { get; }

    public Uri BaseUri => new($"http://127.0.0.1:{HttpPort}");

    public IServiceProvider Services => _app.Services;

    /// <summary>Starts a node; <paramref name="primarySiloPort"/> joins it to the node that has that silo port.</summary>
    public static Task<GatewayNode> StartAsync(int? primarySiloPort = null, string? redis = null, params string[] extra) =>
        StartAsync(primarySiloPort, redis, null, extra);

    /// <summary>Starts a node after <paramref name="configure"/> has adjusted its builder (a test's own clock, say).</summary>
    public static Task<GatewayNode> StartWithAsync(Action<WebApplicationBuilder> configure, params string[] extra) =>
        StartAsync(null, null, configure, extra);

    private static async Task<GatewayNode> StartAsync(int? primarySiloPort, string? redis, Action<WebApplicationBuilder>? configure, string[] extra)
    {
        var (http, silo, gateway) = (FreePort(), FreePort(), FreePort());
        List<string> args =
        [
            $"--urls=http://127.0.0.1:{http}",
            "--environment=Production",
            $"--Auth:AdminKey={AdminKey}",
            $"--Orleans:SiloPort={silo}",
            $"--Orleans:GatewayPort={gateway}",
            "--Calls:DisconnectGraceSeconds=2",
            "--Logging:LogLevel:Default=Warning",
            "--Logging:LogLevel:Microsoft.AspNetCore=Warning",
            .. LocalCluster.LoadSettings.NoCallQuotas,
        ];
        if (primarySiloPort is { } primary)
        {
            args.Add($"--Orleans:PrimarySiloPort={primary}");
        }

        if (redis is not null)
        {
            args.Add("--Orleans:Provider=Redis");
            args.Add($"--ConnectionStrings:Redis={redis}");
            args.Add("--Orleans:ClusterId=test");
        }

        args.AddRange(extra);
        var app = CallGrainsApp.Build([.. args], configure);
        await app.StartAsync();
        return new GatewayNode(app, http, silo, gateway);
    }

    public async Task StopAsync()
    {
        if (!_stopped)
        {
            _stopped = true;
            await _app.StopAsync();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        await _app.DisposeAsync();
    }

    /// <summary>
    /// A free port below the kernel's ephemeral range, never one this process handed out already
    /// (<see cref="LocalCluster.Ports.Free"/>): a port 0 gave could be given again to the next ask, or taken by an
    /// outgoing connection, before the node binds it (a server restarted on a fresh port failed so, "address already in
    /// use").
    /// </summary>
    public static int FreePort() => LocalCluster.Ports.Free();
}

/// <summary>Two gateways of one cluster clients connect to: <see cref="A"/>, and <see cref="B"/> for the other party.</summary>
public interface IGatewayPair
{
    GatewayNode A { get; }

    GatewayNode B { get; }

    /// <summary>Admin API on <see cref="A"/>.</summary>
    Admin Admin { get; }

    GatewayNode Node(bool second) => second ? B : A;
}

/// <summary>Two nodes in one cluster, each with its own gateway port, started with the given settings.</summary>
public abstract class NodePairFixture(params string[] settings) : IAsyncLifetime, IGatewayPair
{
    public GatewayNode A { get; private set; } = null!;

    public GatewayNode B { get; private set; } = null!;

    public Admin Admin { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        A = await GatewayNode.StartAsync(null, null, settings);
        B = await GatewayNode.StartAsync(A.SiloPort, null, settings);
        Admin = new Admin(A.BaseUri);
        await Admin.WaitForClusterAsync(B.BaseUri);
    }

    public async Task DisposeAsync()
    {
        Admin.Dispose();
        await B.DisposeAsync();
        await A.DisposeAsync();
    }

    public GatewayNode Node(bool second) => second ? B : A;
}

/// <summary>Two nodes in one cluster with default settings: caller on one, callee on the other.</summary>
public sealed class TwoNodeFixture : NodePairFixture;

[CollectionDefinition(Name)]
public sealed class TwoNodeGroup : ICollectionFixture<TwoNodeFixture>
{
    public const string Name = "two nodes";
}

public sealed partial class WsClient
{
    public static Task<WsClient> ConnectAsync(GatewayNode node, string uid, string token, string? deviceId = null) =>
        ConnectAsync(node.BaseUri, uid, token, deviceId);
}
