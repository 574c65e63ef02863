using CallGrains.Gateway;

namespace CallGrains.Host;

/// <summary>
/// <c>Gateway:ManagementPort</c>: the host listens on that port too, on the addresses and with the scheme of its public
/// URLs (<c>http://+:8080</c> and 9090 give <c>http://+:9090</c>; <c>http://127.0.0.1:5080</c> gives
/// <c>http://127.0.0.1:9090</c>), so a node bound to loopback does not open its admin port to the network.
/// </summary>
public static class ManagementListener
{
    // Kestrel's own default when neither urls nor http_ports is set.
    private const string DefaultUrl = "http://localhost:5000";

    public static void Add(WebApplicationBuilder builder)
    {
        if (builder.Configuration.GetSection(GatewayOptions.Section).Get<GatewayOptions>()?.ManagementPort is not { } port)
        {
            return;
        }

        var configured = builder.WebHost.GetSetting(WebHostDefaults.ServerUrlsKey) is { Length: > 0 } urls ? urls
            : builder.WebHost.GetSetting(WebHostDefaults.HttpPortsKey) is { Length: > 0 } ports
                ? string.Join(';', ports.Split(';', StringSplitOptions.RemoveEmptyEntries).Select(p => $"http://*:{p}"))
                : DefaultUrl;
        var publicUrls = configured.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var management = publicUrls
            .Select(BindingAddress.Parse)
            .Select(a => $"{a.Scheme}://{a.Host}:{port}")
            .Distinct(StringComparer.OrdinalIgnoreCase);
        builder.WebHost.UseUrls([.. publicUrls, .. management]);
    }
}
