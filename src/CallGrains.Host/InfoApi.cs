using System.Globalization;
using System.Runtime;
using CallGrains.Abstractions;
using CallGrains.Gateway;
using CallGrains.Gateway.Rest;
using CallGrains.Grains;
using Microsoft.Extensions.Options;

namespace CallGrains.Host;

public static class InfoApi
{
    /// <summary>
    /// A plain description of the running node at <c>/info</c>, for people poking at it with curl. <c>/</c> answers the
    /// same, except to a browser in Development (it asks for <c>text/html</c>, not <c>application/json</c>), which gets
    /// the demo page.
    /// </summary>
    public static IEndpointRouteBuilder MapInfoApi(this WebApplication app)
    {
        app.MapGet("/info", Describe);
        app.MapGet("/", (HttpContext http, IOptions<CallOptions> calls, IOptions<SiloOptions> silo) =>
            app.Environment.IsDevelopment() && WantsPage(http.Request)
                ? BrowserAssets.DemoPage()
                : Describe(calls, silo));
        return app;
    }

    private static IResult Describe(IOptions<CallOptions> calls, IOptions<SiloOptions> silo) => Results.Json(new
    {
        service = "CallGrains",
        protocol = "v1",
        mode = silo.Value.Provider == SiloProvider.Redis ? "cluster (Redis)" : "embedded (single in-memory silo)",
        ringTimeoutSeconds = calls.Value.RingTimeoutSeconds,
        ringTimeoutRange = $"{Limits.MinTimeoutSeconds}-{Limits.MaxTimeoutSeconds}",
        health = "/healthz",
        alive = "/alive",
        websocket = "/v1/ws",
        metrics = "/metrics",
        client = "/js/callgrains.js",
    });

    private static bool WantsPage(HttpRequest request)
    {
        var accept = request.GetTypedHeaders().Accept;
        return accept.Any(a => a.MediaType.Equals("text/html", StringComparison.OrdinalIgnoreCase))
            && !accept.Any(a => a.MediaType.Equals("application/json", StringComparison.OrdinalIgnoreCase));
    }
}

public static class StartupBanner
{
    public static void Print(WebApplication app, NodeRole role = NodeRole.All)
    {
        var management = app.Services.GetRequiredService<IOptions<GatewayOptions>>().Value.ManagementPort;
        var what = role switch
        {
            NodeRole.Silo => "CallGrains silo (grains only)",
            NodeRole.Edge => $"CallGrains edge {app.Services.GetRequiredService<GatewayIdentity>().Id}",
            _ => "CallGrains",
        };
        foreach (var url in app.Urls)
        {
            Console.WriteLine(management is { } port && BindingAddress.Parse(url).Port == port
                ? $"{what} management (admin API, /metrics) on {url}"
                : $"{what} listening on {url} (health: {url.TrimEnd('/')}/healthz)");
        }

        Console.WriteLine(RuntimeLine());
        if (role != NodeRole.Silo && app.Environment.IsDevelopment() && app.Urls.FirstOrDefault() is { } first)
        {
            Console.WriteLine($"Try a call in the browser: {first.TrimEnd('/')}/ (two windows, two names)");
        }
    }

    /// <summary>
    /// The GC the process runs with, so an operator sees whether the runtime settings a deployment sets (deploy/Dockerfile:
    /// <c>DOTNET_GCgen0size</c>) took: the runtime ignores a misspelt one silently.
    /// </summary>
    public static string RuntimeLine()
    {
        var gc = GC.GetConfigurationVariables();
        var budget = gc.TryGetValue("GCGen0MaxBudget", out var value) ? Convert.ToInt64(value, CultureInfo.InvariantCulture) : 0;
        var concurrent = gc.TryGetValue("ConcurrentGC", out var c) && c is true;
        var (kind, mode) = (GCSettings.IsServerGC ? "server" : "workstation", concurrent ? " (concurrent)" : "");
        return string.Create(CultureInfo.InvariantCulture,
            $"runtime: .NET {Environment.Version}, {kind} GC{mode}, gen0 budget up to {budget / 1048576.0:0.#} MiB, {Environment.ProcessorCount} cores");
    }
}
