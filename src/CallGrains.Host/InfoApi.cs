using CallGrains.Abstractions;
using CallGrains.Grains;
using Microsoft.Extensions.Options;

namespace CallGrains.Host;

public static class InfoApi
{
    /// <summary>A plain description of the running node at <c>/</c>, for people poking at it with curl.</summary>
    public static IEndpointRouteBuilder MapInfoApi(this IEndpointRouteBuilder app)
    {
        app.MapGet("/", (IOptions<CallOptions> calls) => Results.Json(new
        {
            service = "CallGrains",
            protocol = "v1",
            mode = "embedded (single in-memory silo)",
            ringTimeoutSeconds = calls.Value.RingTimeoutSeconds,
            ringTimeoutRange = $"{Limits.MinTimeoutSeconds}-{Limits.MaxTimeoutSeconds}",
            health = "/healthz",
            alive = "/alive",
            websocket = "/v1/ws",
            metrics = "/metrics",
        }));
        return app;
    }
}

public static class StartupBanner
{
    public static void Print(WebApplication app)
    {
        foreach (var url in app.Urls)
        {
            Console.WriteLine($"CallGrains listening on {url} (health: {url.TrimEnd('/')}/healthz)");
        }
    }
}
