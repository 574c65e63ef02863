using System.Security.Cryptography;
using System.Text.Json;
using CallGrains.Gateway.Tests;
using Xunit.Abstractions;

namespace CallGrains.Browser.Tests;

/// <summary>A real coturn (<c>use-auth-secret</c>) on loopback and a Development node whose <c>Turn:*</c> names it.</summary>
public sealed class TurnDemoFixture : IAsyncLifetime
{
    public CoturnProcess Coturn { get; private set; } = null!;

    public DevNode Node { get; private set; } = null!;

    public string Url => $"turn:127.0.0.1:{Coturn.Port}?transport=udp";

    public async Task InitializeAsync()
    {
        var secret = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
        Coturn = await CoturnProcess.StartAsync(secret);
        try
        {
            Node = await DevNode.StartAsync("Development", $"--Turn:Urls={Url}", $"--Turn:Secret={secret}");
        }
        catch
        {
            // xunit does not dispose a fixture whose start failed: coturn must not outlive the run.
            await Coturn.DisposeAsync();
            throw;
        }
    }

    public async Task DisposeAsync()
    {
        await Node.DisposeAsync();
        await Coturn.DisposeAsync();
    }
}

/// <summary>
/// The demo page with <c>Turn:Urls</c> set: its peer connections get the servers of <c>GET /v1/turn</c>, and a video
/// call connects through the relay alone (each page's peer connection is held to <c>iceTransportPolicy: 'relay'</c>,
/// so there is no other way for the media to flow).
/// </summary>
[Collection(BrowserGroup.Name)]
public sealed class TurnRelayTests(BrowserFixture browser, TurnDemoFixture turn, ITestOutputHelper output) : IClassFixture<TurnDemoFixture>
{
    // Records each configuration the page passes (and the connection), then allows relayed candidates only.
    private const string RelayOnly = """
        (() => {
          const Native = window.RTCPeerConnection;
          window.__iceConfigs = [];
          window.__pcs = [];
          window.RTCPeerConnection = class extends Native {
            constructor(config = {}) {
              window.__iceConfigs.push(JSON.parse(JSON.stringify(config)));
              super({ ...config, iceTransportPolicy: 'relay' });
              window.__pcs.push(this);
            }
          };
        })();
        """;

    // The type of the local candidate the connection's media flows from, and the TURN server it was allocated on.
    private const string SelectedLocalCandidate = """
        async () => {
          const stats = [...(await window.__pcs.at(-1).getStats()).values()];
          const transport = stats.find(s => s.type === 'transport' && s.selectedCandidatePairId);
          const pair = stats.find(s => s.id === transport.selectedCandidatePairId);
          const local = stats.find(s => s.id === pair.localCandidateId);
          return [local.candidateType, local.url ?? ''];
        }
        """;

    private readonly string _run = Guid.NewGuid().ToString("N")[..6];

    [Fact]
    public async Task A_video_call_on_the_demo_connects_through_coturn_with_credentials_from_the_endpoint()
    {
        await using var alice = await DemoUser.SignInAsync(browser, $"Alice{_run}", output, node: turn.Node, initScript: RelayOnly);
        await using var bob = await DemoUser.SignInAsync(browser, $"Bob{_run}", output, node: turn.Node, initScript: RelayOnly);

        await alice.CallAsync(bob, "video");
        await bob.ExpectCallStateAsync("incoming");
        await bob.PressAsync("Accept");
        await alice.ExpectRemoteVideoPlaysAsync();
        await bob.ExpectRemoteVideoPlaysAsync();

        foreach (var user in new[] { alice, bob })
        {
            var configs = await user.Page.EvaluateAsync<JsonElement>("() => window.__iceConfigs");
            var server = Assert.Single(configs[0].GetProperty("iceServers").EnumerateArray(), s => s.TryGetProperty("username", out _));
            Assert.Equal([turn.Url], server.GetProperty("urls").EnumerateArray().Select(u => u.GetString()));
            Assert.EndsWith($":{user.Uid}", server.GetProperty("username").GetString(), StringComparison.Ordinal);
            Assert.Equal(["relay", turn.Url], await user.Page.EvaluateAsync<string[]>(SelectedLocalCandidate));
        }

        await alice.PressAsync("Hang up");
        await bob.ExpectIdleAsync();
        alice.AssertNoPageErrors();
        bob.AssertNoPageErrors();
    }
}
