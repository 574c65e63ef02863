using CallGrains.Gateway.Tests;

namespace CallGrains.Client.Tests;

/// <summary>One real node (silo + gateway) on loopback that the SDK's tests talk to, and the admin API to set users up.</summary>
public sealed class ClientNodeFixture : IAsyncLifetime
{
    // Long enough that a client reconnecting on a busy machine is still in its call when it is back.
    public const string Grace = "--Calls:DisconnectGraceSeconds=30";

    public GatewayNode Node { get; private set; } = null!;

    public CallGrainsAdminClient Admin { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Node = await GatewayNode.StartAsync(null, null, Grace);
        Admin = new CallGrainsAdminClient(Node.BaseUri, GatewayNode.AdminKey);
    }

    public async Task DisposeAsync()
    {
        Admin.Dispose();
        await Node.DisposeAsync();
    }

    /// <summary>Creates users with fresh uids and mints each a token, through the SDK's admin client.</summary>
    public Task<(string Uid, string Token)[]> UsersAsync(int count, string prefix = "u") => Users.CreateAsync(Admin, count, prefix);

    public Task<CallGrainsClient> ConnectAsync(string token, string? deviceId = null, Action<CallGrainsClientOptions>? configure = null) =>
        Users.ConnectAsync(Node.BaseUri, token, deviceId, configure);
}

[CollectionDefinition(Name)]
public sealed class ClientNodeGroup : ICollectionFixture<ClientNodeFixture>
{
    public const string Name = "client node";
}

public static class Users
{
    public static async Task<(string Uid, string Token)[]> CreateAsync(CallGrainsAdminClient admin, int count, string prefix = "u")
    {
        var run = Guid.NewGuid().ToString("N")[..8];
        var users = new (string, string)[count];
        for (var i = 0; i < count; i++)
        {
            var uid = $"{prefix}{i}-{run}";
            await admin.CreateUserAsync(uid, $"User {i}");
            users[i] = (uid, (await admin.IssueTokenAsync(uid)).Token);
        }

        return users;
    }

    public static async Task<CallGrainsClient> ConnectAsync(Uri server, string token, string? deviceId = null, Action<CallGrainsClientOptions>? configure = null)
    {
        var options = new CallGrainsClientOptions { Server = server, Token = token, DeviceId = deviceId, RequestTimeout = TimeSpan.FromSeconds(30) };
        configure?.Invoke(options);
        return await CallGrainsClient.ConnectAsync(options, new TestTransport(), CancellationToken.None);
    }

    /// <summary>A client that stays away a few seconds after a drop (its first reconnect waits at least <paramref name="away"/>).</summary>
    public static Action<CallGrainsClientOptions> SlowToReconnect(TimeSpan away) => options =>
    {
        options.ReconnectMinInterval = away;
        options.ReconnectBaseDelay = away;
        options.ReconnectMaxDelay = away * 2;
    };
}
