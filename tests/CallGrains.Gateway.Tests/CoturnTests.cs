using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using CallGrains.Client;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace CallGrains.Gateway.Tests;

/// <summary>
/// A real coturn with <c>use-auth-secret</c> beside a node whose <c>Turn:*</c> names it; a user of that node, signed in
/// through the SDK. The node's clock starts two hours back, when the fixture asks for one credential (valid an hour:
/// so expired an hour ago by coturn's clock, yet signed by the endpoint itself), then follows the real time.
/// </summary>
public sealed class CoturnFixture : IAsyncLifetime
{
    public const int TtlSeconds = 3600;

    public string Secret { get; } = $"coturn-test-{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16))}";

    public FakeTimeProvider Clock { get; } = new(DateTimeOffset.UtcNow.AddHours(-2));

    public CoturnProcess Coturn { get; private set; } = null!;

    public GatewayNode Node { get; private set; } = null!;

    public string Uid { get; private set; } = null!;

    public CallGrainsClient Client { get; private set; } = null!;

    /// <summary>What <c>GET /v1/turn</c> answered two hours ago.</summary>
    public TurnCredentials Expired { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Coturn = await CoturnProcess.StartAsync(Secret);
        try
        {
            Node = await GatewayNode.StartWithAsync(
                builder => builder.Services.AddKeyedSingleton<TimeProvider>(GatewayHosting.ClockKey, Clock),
                $"--Turn:Urls=turn:127.0.0.1:{Coturn.Port}?transport=udp",
                $"--Turn:Secret={Secret}",
                $"--Turn:TtlSeconds={TtlSeconds}");
            using var admin = new Admin(Node.BaseUri);
            (Uid, var token) = (await admin.UsersAsync(1, "coturn"))[0];
            Client = await CallGrainsClient.ConnectAsync(new CallGrainsClientOptions
            {
                Server = Node.BaseUri,
                Token = token,
                ConnectTimeout = TimeSpan.FromSeconds(60),
                RequestTimeout = TimeSpan.FromSeconds(60),
            });
            Expired = await Client.GetTurnCredentialsAsync();
        }
        catch
        {
            // xunit does not dispose a fixture whose start failed: coturn must not outlive the run.
            await DisposeAsync();
            throw;
        }
    }

    /// <summary>
    /// Credentials valid now by coturn's clock: the node's clock is first moved up to the real time, which passes on
    /// while the tests run (a slow machine, a paused VM), so nothing is minted already expired.
    /// </summary>
    public Task<TurnCredentials> FreshAsync()
    {
        var now = DateTimeOffset.UtcNow;
        if (now > Clock.GetUtcNow())
        {
            Clock.SetUtcNow(now);
        }

        return Client.GetTurnCredentialsAsync();
    }

    public async Task DisposeAsync()
    {
        if (Client is not null)
        {
            await Client.DisposeAsync();
        }

        if (Node is not null)
        {
            await Node.DisposeAsync();
        }

        await Coturn.DisposeAsync();
    }
}

/// <summary>Credentials from <c>GET /v1/turn</c> against a real coturn (PROTOCOL section 12): they relay; expired or forged ones do not.</summary>
public sealed class CoturnTests(CoturnFixture fixture) : IClassFixture<CoturnFixture>
{
    private static readonly TimeSpan DataTimeout = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task Credentials_from_the_endpoint_allocate_a_relay_that_carries_data_both_ways()
    {
        var turn = await fixture.FreshAsync();
        var server = Assert.Single(turn.IceServers);
        Assert.Equal(TimeSpan.FromSeconds(CoturnFixture.TtlSeconds), turn.Ttl);
        using var probe = new TurnProbe(EndPointOf(Assert.Single(server.Urls)));
        using var peer = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        var peerAt = (IPEndPoint)peer.Client.LocalEndPoint!;

        var (relayed, error) = await probe.AllocateAsync(server.Username!, server.Credential!);
        Assert.True(relayed is not null, $"coturn refused the endpoint's credentials with {error}:\n{fixture.Coturn.Tail}");
        Assert.Equal(0, await probe.PermitAsync(peerAt));

        await probe.SendAsync(peerAt, "hello through the relay"u8.ToArray());
        using var wait = new CancellationTokenSource(DataTimeout);
        var atPeer = await peer.ReceiveAsync(wait.Token);
        await peer.SendAsync("hello back"u8.ToArray(), atPeer.RemoteEndPoint);
        var (from, data) = await probe.ReceiveDataAsync(DataTimeout);

        Assert.Equal("hello through the relay", Encoding.UTF8.GetString(atPeer.Buffer));
        Assert.Equal(relayed, atPeer.RemoteEndPoint);
        Assert.Equal(peerAt, from);
        Assert.Equal("hello back", Encoding.UTF8.GetString(data));
    }

    [Fact]
    public async Task An_expired_credential_from_the_endpoint_is_refused()
    {
        var expired = Assert.Single(fixture.Expired.IceServers);
        var username = expired.Username!;
        var expiry = long.Parse(username[..username.IndexOf(':', StringComparison.Ordinal)], CultureInfo.InvariantCulture);
        Assert.True(expiry < DateTimeOffset.UtcNow.ToUnixTimeSeconds() - 1800, $"{username} should have expired half an hour ago or more");
        Assert.Equal(TurnApiTests.Credential(fixture.Secret, username), expired.Credential);

        var fresh = await FreshAsync();

        Assert.Equal(401, await RefusedWithAsync(username, expired.Credential!));
        Assert.Equal(0, await RefusedWithAsync(fresh.Username!, fresh.Credential!));
    }

    [Fact]
    public async Task A_forged_credential_is_refused()
    {
        var fresh = await FreshAsync();
        var username = fresh.Username!;
        var expiry = username[..username.IndexOf(':', StringComparison.Ordinal)];
        var otherUser = $"{expiry}:someone-else";
        var later = $"{long.Parse(expiry, CultureInfo.InvariantCulture) + 86_400}:{fixture.Uid}";

        // Signed with another secret; another user's name (or a later expiry) with this user's credential; a made-up one.
        Assert.Equal(401, await RefusedWithAsync(username, TurnApiTests.Credential($"{fixture.Secret}-guess", username)));
        Assert.Equal(401, await RefusedWithAsync(otherUser, fresh.Credential!));
        Assert.Equal(401, await RefusedWithAsync(later, fresh.Credential!));
        Assert.Equal(401, await RefusedWithAsync(username, Convert.ToBase64String(RandomNumberGenerator.GetBytes(20))));
        Assert.Equal(0, await RefusedWithAsync(username, fresh.Credential!));
    }

    private async Task<IceServer> FreshAsync() => Assert.Single((await fixture.FreshAsync()).IceServers);

    /// <summary>The error code of an Allocate with these credentials, each on a fresh client socket; 0 if it got a relay.</summary>
    private async Task<int> RefusedWithAsync(string username, string credential)
    {
        using var probe = new TurnProbe(fixture.Coturn.EndPoint);
        var (relayed, error) = await probe.AllocateAsync(username, credential);
        return relayed is null ? error : 0;
    }

    /// <summary>The address in <c>turn:127.0.0.1:&lt;port&gt;?transport=udp</c>.</summary>
    private static IPEndPoint EndPointOf(string url)
    {
        Assert.StartsWith("turn:127.0.0.1:", url, StringComparison.Ordinal);
        Assert.EndsWith("?transport=udp", url, StringComparison.Ordinal);
        return new IPEndPoint(IPAddress.Loopback, int.Parse(url["turn:127.0.0.1:".Length..url.IndexOf('?', StringComparison.Ordinal)], CultureInfo.InvariantCulture));
    }
}
