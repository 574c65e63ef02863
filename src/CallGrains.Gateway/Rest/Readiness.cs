using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace CallGrains.Gateway.Rest;

/// <summary>
/// <c>/healthz</c> (readiness), answered from a report at most a second old: a flood of probes (it is never rate
/// limited, so a balancer always sees the node) runs the checks, a Redis round trip among them, at most once a second
/// per node, and never two at a time.
/// </summary>
public sealed class Readiness(HealthCheckService checks, [FromKeyedServices(GatewayHosting.ClockKey)] TimeProvider clock)
{
    public static readonly TimeSpan MaxAge = TimeSpan.FromSeconds(1);

    private readonly Lock _lock = new();
    private Task<HealthReport>? _report;
    private long _startedAt;

    /// <summary>Answers as <c>MapHealthChecks</c> does: 200 (healthy or degraded) or 503, the status as plain text, never cached downstream.</summary>
    public static async Task AnswerAsync(HttpContext http)
    {
        var report = await http.RequestServices.GetRequiredService<Readiness>().ReportAsync();
        http.Response.StatusCode = report.Status == HealthStatus.Unhealthy ? StatusCodes.Status503ServiceUnavailable : StatusCodes.Status200OK;
        http.Response.Headers.CacheControl = "no-store, no-cache";
        http.Response.ContentType = "text/plain";
        await http.Response.WriteAsync(report.Status.ToString(), http.RequestAborted);
    }

    public Task<HealthReport> ReportAsync()
    {
        lock (_lock)
        {
            if (_report is null || (_report.IsCompleted && clock.GetElapsedTime(_startedAt) >= MaxAge))
            {
                _startedAt = clock.GetTimestamp();
                _report = checks.CheckHealthAsync(CancellationToken.None);
            }

            return _report;
        }
    }
}
