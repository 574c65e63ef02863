using OpenTelemetry.Resources;
using OpenTelemetry.Trace;
using Orleans.Diagnostics;

namespace CallGrains.Host;

/// <summary>
/// Distributed tracing, on only when an OTLP collector is named (<c>OTEL_EXPORTER_OTLP_ENDPOINT</c>, read with the
/// other standard <c>OTEL_*</c> variables by the exporter): each HTTP request and WebSocket upgrade (ASP.NET Core) and
/// each grain call (Orleans' activity sources, with the trace context carried from grain to grain) becomes a span of
/// service <c>callgrains</c>. Without a collector nothing listens, so nothing is recorded.
/// </summary>
public static class Tracing
{
    public const string ServiceName = "callgrains";

    public const string EndpointVariable = "OTEL_EXPORTER_OTLP_ENDPOINT";

    public static bool Enabled(IConfiguration configuration) => !string.IsNullOrWhiteSpace(configuration[EndpointVariable]);

    public static IServiceCollection AddCallGrainsTracing(this IServiceCollection services, IConfiguration configuration)
    {
        if (Enabled(configuration))
        {
            services.AddOpenTelemetry().WithTracing(tracing => tracing
                .ConfigureResource(resource => resource.AddService(ServiceName))
                // Microsoft.Orleans.Application (grain calls), .Runtime, .Lifecycle (activation, migration), .Storage.
                .AddSource(ActivitySources.AllActivitySourceName)
                .AddAspNetCoreInstrumentation()
                .AddOtlpExporter());
        }

        return services;
    }
}
