using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Orleans.Configuration;

namespace CallGrains.Gateway.Tests;

/// <summary>
/// <c>Gateway:ManagementPort</c> (docs/deployment.md): the admin API and <c>/metrics</c> on a port of their own, never
/// on the public one; and no Orleans client gateway unless one is asked for.
/// </summary>
public sealed class ManagementPortTests
{
    [Fact]
    public async Task With_a_management_port_the_public_port_hides_the_admin_api_and_metrics_and_still_serves_users()
    {
        var management = GatewayNode.FreePort();
        await using var node = await GatewayNode.StartAsync(null, null, $"--Gateway:ManagementPort={management}");
        var operatorUri = new Uri($"http://127.0.0.1:{management}");
        using var operatorSide = new Admin(operatorUri);
        using var publicSide = new Admin(node.BaseUri);

        // The operator's port serves the admin API and the metrics.
        var (uid, token) = (await operatorSide.UsersAsync(1, "mgmt"))[0];
        using (var metrics = await operatorSide.Http.GetAsync(new Uri("/metrics", UriKind.Relative)))
        {
            Assert.Equal(HttpStatusCode.OK, metrics.StatusCode);
        }

        // The public port answers every admin route and /metrics as if they did not exist, the right key or not, and
        // a Host header naming the management port changes nothing.
        foreach (var (method, path) in new[]
        {
            (HttpMethod.Post, "/v1/users"), (HttpMethod.Get, $"/v1/users/{uid}"), (HttpMethod.Post, $"/v1/users/{uid}/tokens"),
            (HttpMethod.Get, $"/v1/users/{uid}/calls"), (HttpMethod.Get, $"/v1/users/{uid}/state"), (HttpMethod.Post, "/v1/groups"),
            (HttpMethod.Get, "/metrics"),
        })
        {
            using var refused = await publicSide.SendAsync(method, path, method == HttpMethod.Post ? new { uid = "x", name = "x" } : null);
            Assert.True(refused.StatusCode == HttpStatusCode.NotFound, $"{method} {path} on the public port: {refused.StatusCode}");
        }

        using (var spoofed = new HttpRequestMessage(HttpMethod.Get, new Uri(node.BaseUri, "/metrics")))
        {
            spoofed.Headers.Host = $"127.0.0.1:{management}";
            using var answer = await publicSide.Http.SendAsync(spoofed);
            Assert.Equal(HttpStatusCode.NotFound, answer.StatusCode);
        }

        // Users are served on the public port: a socket, a request, their own history; health on both.
        await using (var client = await WsClient.ConnectAsync(node.BaseUri, uid, token, "pub"))
        {
            Assert.True((await client.RequestAsync("ping")).IsOk());
        }

        using (var own = await publicSide.SendAsync(HttpMethod.Get, "/v1/calls", apiKey: null, bearer: token))
        {
            Assert.Equal(HttpStatusCode.OK, own.StatusCode);
        }

        foreach (var uri in new[] { node.BaseUri, operatorUri })
        {
            foreach (var probe in new[] { "/healthz", "/alive" })
            {
                using var answer = await publicSide.Http.GetAsync(new Uri(uri, probe));
                Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
            }
        }
    }

    [Fact]
    public async Task Without_a_management_port_one_listener_serves_everything()
    {
        await using var node = await GatewayNode.StartAsync();
        using var admin = new Admin(node.BaseUri);
        var (uid, _) = (await admin.UsersAsync(1, "one"))[0];
        using var state = await admin.SendAsync(HttpMethod.Get, $"/v1/users/{uid}/state");
        using var metrics = await admin.Http.GetAsync(new Uri("/metrics", UriKind.Relative));
        Assert.Equal((HttpStatusCode.OK, HttpStatusCode.OK), (state.StatusCode, metrics.StatusCode));
    }

    [Fact]
    public async Task Gateway_port_0_opens_no_orleans_client_gateway()
    {
        await using var node = await GatewayNode.StartAsync(null, null, "--Orleans:GatewayPort=0");
        using var admin = new Admin(node.BaseUri);
        var (uid, token) = (await admin.UsersAsync(1, "nogw"))[0];
        await using var client = await WsClient.ConnectAsync(node.BaseUri, uid, token, "d");
        Assert.True((await client.RequestAsync("ping")).IsOk());

        var endpoints = node.Services.GetRequiredService<IOptions<EndpointOptions>>().Value;
        Assert.Equal((0, null), (endpoints.GatewayPort, endpoints.GatewayListeningEndpoint));
        Assert.Null(node.Services.GetRequiredService<ILocalSiloDetails>().GatewayAddress);
    }
}
