using System.Net;
using CallGrains.Abstractions;
using Microsoft.Extensions.DependencyInjection;

namespace CallGrains.Gateway.Tests;

/// <summary>
/// The split shape (<c>Orleans:Role</c>): two grains-only silos and two edges that hold the sockets as Orleans clients.
/// Every call here crosses edge, silo and edge; the caller and the callee are on different edges.
/// </summary>
[Collection(EdgeGroup.Name)]
public sealed class EdgeTests(EdgeFixture split)
{
    [Fact]
    public async Task A_call_crosses_from_one_edge_through_the_silos_to_the_other_and_lands_in_both_histories()
    {
        var (alice, bob) = await split.PairAsync();
        await using var a = await WsClient.ConnectAsync(split.Edge1.BaseUri, alice.Uid, alice.Token);
        await using var b = await WsClient.ConnectAsync(split.Edge2.BaseUri, bob.Uid, bob.Token);

        var initiated = await a.CallAsync(b.Uid);
        Assert.True(initiated.IsOk());
        var incoming = await b.EventAsync(0, "incomingCallReceived");
        Assert.Equal(initiated.SessionId(), incoming.SessionId());
        Assert.Equal(1, incoming.Seq());
        Assert.True((await b.RequestAsync("acceptCall", new { sessionId = initiated.SessionId() })).IsOk());
        Assert.Equal(1, (await a.EventAsync(0, "outgoingCallAccepted")).Seq());
        Assert.True((await a.RequestAsync("endCall", new { sessionId = initiated.SessionId() })).IsOk());
        Assert.Equal(3, (await b.EventAsync(1, "callEndedMessageReceived")).Seq());

        // History is read on an edge (which has no store of its own) from the silos.
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            using var response = await split.Admin2.SendAsync(HttpMethod.Get, "/v1/calls", apiKey: null, bearer: bob.Token);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            if ((await response.Content.ReadAsStringAsync()).Contains(initiated.SessionId(), StringComparison.Ordinal))
            {
                break;
            }

            Assert.True(DateTime.UtcNow < deadline, "the ended call is not in the callee's history, read through the other edge, after 30 s");
            await Task.Delay(200);
        }
    }

    [Fact]
    public async Task Devices_of_one_user_on_two_edges_both_ring_and_the_answer_on_one_stops_the_other()
    {
        var (alice, bob) = await split.PairAsync();
        await using var a = await WsClient.ConnectAsync(split.Edge1.BaseUri, alice.Uid, alice.Token);
        await using var phone = await WsClient.ConnectAsync(split.Edge1.BaseUri, bob.Uid, bob.Token, "phone");
        await using var laptop = await WsClient.ConnectAsync(split.Edge2.BaseUri, bob.Uid, bob.Token, "laptop");

        var call = await a.CallAsync(bob.Uid);
        await phone.EventAsync(0, "incomingCallReceived");
        await laptop.EventAsync(0, "incomingCallReceived");
        Assert.True((await laptop.RequestAsync("acceptCall", new { sessionId = call.SessionId() })).IsOk());

        var elsewhere = await phone.EventAsync(1);
        Assert.Equal(call.SessionId(), elsewhere.SessionId());
        Assert.Equal("ongoing", elsewhere.Status());
    }

    [Fact]
    public async Task A_grains_only_silo_serves_health_and_no_public_api()
    {
        using var silo = new HttpClient { BaseAddress = split.Silo1.BaseUri };
        using (var health = await silo.GetAsync(new Uri("/healthz", UriKind.Relative)))
        {
            Assert.Equal(HttpStatusCode.OK, health.StatusCode);
        }

        foreach (var path in new[] { "/v1/ws", "/v1/users/x", "/info", "/" })
        {
            using var response = await silo.GetAsync(new Uri(path, UriKind.Relative));
            Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        }

        using var edge = new HttpClient { BaseAddress = split.Edge1.BaseUri };
        using var ready = await edge.GetAsync(new Uri("/healthz", UriKind.Relative));
        Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
    }

    [Fact]
    public async Task Both_edges_hold_leases_the_silos_see()
    {
        var registry = split.Grains.GetGrain<IEdgeRegistryGrain>(IEdgeRegistryGrain.Key);
        var leases = await registry.List();
        var edges = leases.Edges.Where(e => e.ExpiresAt > leases.Now).Select(e => e.EdgeId).ToList();
        Assert.Contains(split.Edge1.Services.GetRequiredService<GatewayIdentity>().Id, edges);
        Assert.Contains(split.Edge2.Services.GetRequiredService<GatewayIdentity>().Id, edges);
        Assert.All(edges, e => Assert.True(EdgeIds.IsEdge(e)));
    }
}

/// <summary>Two grains-only silos and two edges, each edge knowing both silos' client gateways.</summary>
public sealed class EdgeFixture : IAsyncLifetime, IGatewayPair
{
    GatewayNode IGatewayPair.A => Edge1;

    GatewayNode IGatewayPair.B => Edge2;

    Admin IGatewayPair.Admin => Admin1;

    public GatewayNode Silo1 { get; private set; } = null!;

    public GatewayNode Silo2 { get; private set; } = null!;

    public GatewayNode Edge1 { get; private set; } = null!;

    public GatewayNode Edge2 { get; private set; } = null!;

    public Admin Admin1 { get; private set; } = null!;

    public Admin Admin2 { get; private set; } = null!;

    public IGrainFactory Grains => Silo1.Services.GetRequiredService<IGrainFactory>();

    public async Task InitializeAsync()
    {
        Silo1 = await GatewayNode.StartAsync(null, null, "--Orleans:Role=Silo");
        Silo2 = await GatewayNode.StartAsync(Silo1.SiloPort, null, "--Orleans:Role=Silo");
        var ports = $"--Orleans:SiloGatewayPorts={Silo1.GatewayPort},{Silo2.GatewayPort}";
        Edge1 = await GatewayNode.StartAsync(null, null, "--Orleans:Role=Edge", ports);
        Edge2 = await GatewayNode.StartAsync(null, null, "--Orleans:Role=Edge", ports);
        Admin1 = new Admin(Edge1.BaseUri);
        Admin2 = new Admin(Edge2.BaseUri);
        await Admin1.WaitForClusterAsync(Edge2.BaseUri);
    }

    public async Task<((string Uid, string Token) A, (string Uid, string Token) B)> PairAsync()
    {
        var users = await Admin1.UsersAsync(2, "edge");
        return (users[0], users[1]);
    }

    public async Task DisposeAsync()
    {
        Admin1.Dispose();
        Admin2.Dispose();
        await Edge2.DisposeAsync();
        await Edge1.DisposeAsync();
        await Silo2.DisposeAsync();
        await Silo1.DisposeAsync();
    }
}

[CollectionDefinition(Name)]
public sealed class EdgeGroup : ICollectionFixture<EdgeFixture>
{
    public const string Name = "edges";
}
