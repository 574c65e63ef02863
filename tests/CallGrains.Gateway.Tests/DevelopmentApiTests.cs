using System.Net;
using CallGrains.Gateway.Rest;
using Microsoft.AspNetCore.Http;

namespace CallGrains.Gateway.Tests;

/// <summary>The Development endpoints sign anyone in as anyone: they answer callers on the node's own machine only.</summary>
public sealed class DevelopmentApiTests
{
    [Theory]
    [InlineData("127.0.0.1", true)]
    [InlineData("::1", true)]
    [InlineData("::ffff:127.0.0.1", true)]
    [InlineData("10.1.2.3", false)]
    [InlineData("192.168.1.20", false)]
    [InlineData("::ffff:203.0.113.9", false)]
    public void Only_a_loopback_caller_is_local(string address, bool local)
    {
        var http = new DefaultHttpContext();
        http.Connection.RemoteIpAddress = IPAddress.Parse(address);

        Assert.Equal(local, DevelopmentApi.IsLocal(http));
        Assert.False(DevelopmentApi.IsLocal(new DefaultHttpContext()));
    }

    [Fact]
    public async Task A_development_node_answers_dev_requests_from_this_machine_and_404_to_a_client_its_proxy_says_is_remote()
    {
        await using var node = await GatewayNode.StartAsync(null, null, "--environment=Development", "--Gateway:KnownProxies:0=127.0.0.1");
        using var http = new HttpClient { BaseAddress = node.BaseUri, Timeout = TimeSpan.FromSeconds(30) };

        using var local = await http.GetAsync(new Uri("/dev/users", UriKind.Relative));
        using var request = new HttpRequestMessage(HttpMethod.Get, "/dev/users");
        request.Headers.Add("X-Forwarded-For", "203.0.113.9");
        using var remote = await http.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, local.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, remote.StatusCode);
    }
}
