using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.HttpOverrides;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace CallGrains.Gateway.Auth;

/// <summary>
/// Who the client is behind a proxy. <c>X-Forwarded-For</c> and <c>X-Forwarded-Proto</c> are believed only from the
/// proxies listed in <c>Gateway:KnownProxies</c> and <c>Gateway:KnownNetworks</c> (ASP.NET Core's own defaults, which
/// trust loopback, are cleared first); with none listed they are ignored. Otherwise anyone could name a fresh address
/// in each request and never empty a per-address rate limit bucket.
/// </summary>
public static class Proxies
{
    public static WebApplication UseKnownProxies(this WebApplication app)
    {
        var gateway = app.Services.GetRequiredService<IOptions<GatewayOptions>>().Value;
        if (gateway.KnownProxies.Length == 0 && gateway.KnownNetworks.Length == 0)
        {
            return app;
        }

        var options = new ForwardedHeadersOptions
        {
            ForwardedHeaders = ForwardedHeaders.XForwardedFor | ForwardedHeaders.XForwardedProto,

            // Hop by hop from the right, as long as each hop is a known proxy: the first address no proxy of ours
            // vouches for is the client.
            ForwardLimit = null,
        };
        options.KnownProxies.Clear();
        options.KnownIPNetworks.Clear();
        foreach (var proxy in gateway.KnownProxies)
        {
            options.KnownProxies.Add(IPAddress.Parse(proxy));
        }

        foreach (var network in gateway.KnownNetworks)
        {
            options.KnownIPNetworks.Add(System.Net.IPNetwork.Parse(network));
        }

        app.UseForwardedHeaders(options);
        return app;
    }
}
