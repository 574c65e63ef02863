using System.Security.Cryptography;
using CallGrains.Abstractions;
using CallGrains.Gateway.Auth;
using CallGrains.Gateway.Protocol;
using CallGrains.Gateway.Rest;
using CallGrains.Gateway.Sockets;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using OpenTelemetry.Metrics;

namespace CallGrains.Gateway;

public static class GatewayHosting
{
    // Orleans' per-message size instruments (Orleans.Runtime InstrumentNames), which the host does not export.
    internal const string OrleansSentMessageSizes = "orleans-messaging-sent-messages-size";
    internal const string OrleansReceivedMessageSizes = "orleans-messaging-received-messages-size";

    /// <summary>
    /// The key of the gateway's clock (rate limits, auth token expiry): the host's <see cref="TimeProvider"/> unless
    /// a test registers its own under this key, leaving the silo's clock alone.
    /// </summary>
    public const string ClockKey = "CallGrains.Gateway.Clock";

    /// <summary>The gateway's services: options, tokens, sockets, the stream subscription, metrics.</summary>
    /// <param name="edge">
    /// An edge gateway (an Orleans client, no silo here): events come to its observer and it holds a lease
    /// (<see cref="EdgeLifecycle"/>), instead of the silo's own stream.
    /// </param>
    public static IServiceCollection AddCallGrainsGateway(this IServiceCollection services, IConfiguration configuration, IHostEnvironment environment, bool edge = false)
    {
        services.AddOptions<GatewayOptions>().BindConfiguration(GatewayOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        // One key per process: options are built more than once (IOptions, and the monitor ValidateOnStart uses).
        var developmentKey = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
        var announced = 0;
        services.AddOptions<AuthOptions>().BindConfiguration(AuthOptions.Section)
            .PostConfigure<ILoggerFactory>((o, loggers) =>
            {
                if (string.IsNullOrWhiteSpace(o.AdminKey) && environment.IsDevelopment())
                {
                    o.AdminKey = developmentKey;
                    if (Interlocked.Exchange(ref announced, 1) == 0)
                    {
                        loggers.CreateLogger("CallGrains.Gateway").GeneratedAdminKey(o.AdminKey);
                        Console.WriteLine($"Development admin key (X-Api-Key): {o.AdminKey}");
                    }
                }
            })
            .Validate(o => !string.IsNullOrWhiteSpace(o.AdminKey), "Auth:AdminKey is required outside Development (set Auth__AdminKey)")
            .Validate(o => o.AdminKey is null || o.AdminKey.Length >= 16, "Auth:AdminKey must be at least 16 characters")
            .Validate(o => o.TokenLifetime > TimeSpan.Zero, "Auth:TokenLifetime must be positive")
            .ValidateOnStart();
        services.AddSingleton<IValidateOptions<AuthOptions>>(new AuthSecrets(environment));
        services.TryAddTimeProvider();
        services.TryAddKeyedSingleton(ClockKey, (sp, _) => sp.GetRequiredService<TimeProvider>());
        services.AddSingleton<Tokens>();
        services.AddSingleton<RestRateLimit>();
        services.AddSingleton<DirectUpgrade>();
        services.AddTurnCredentials();
        services.AddHostedService<GatewaySweep>();
        services.AddSingleton<GatewayMetrics>();
        services.AddSingleton<ConnectionRegistry>();
        services.AddSingleton<IDeviceDirectory>(sp => sp.GetRequiredService<ConnectionRegistry>());
        services.AddSingleton<RequestDispatcher>();
        // The silo's push dispatcher writes its payloads with the socket's wire code.
        services.TryAddSingleton<IWireText, WireText>();
        services.AddSingleton<WebSocketEndpoint>();
        if (edge)
        {
            services.AddSingleton<EdgeLifecycle>();
            services.AddHostedService(sp => sp.GetRequiredService<EdgeLifecycle>());
            services.AddHealthChecks().AddCheck<EdgeLeaseCheck>("edge-lease");
        }
        else
        {
            services.AddHostedService<GatewayLifecycle>();
        }

        services.AddHealthChecks();
        services.AddSingleton<Readiness>();
        services.AddDevelopmentApi(environment);

        // ASP.NET Core's hosting diagnostics log each request's whole URL at Information ("Request starting ...
        // /v1/ws?token=..."), and browsers can only pass their auth token in that query string. Those lines are
        // written before any middleware runs, so they cannot be redacted: this one category is held to Warning
        // (its warnings and errors still show) rather than let an operator who turns on Information for
        // Microsoft.AspNetCore write live credentials to the logs. A provider-specific setting for the category
        // (Logging:Console:LogLevel:...) still overrides this, for whoever means it.
        services.AddLogging(logging => logging.AddFilter("Microsoft.AspNetCore.Hosting.Diagnostics", LogLevel.Warning));
        services.AddOpenTelemetry().WithMetrics(metrics => metrics
            .AddMeter(GatewayMetrics.MeterName, "CallGrains", "Microsoft.Orleans")
            // Orleans records the size of every message between silos, tagged by direction and silo: per message, that
            // was 2.7% of a host's CPU and ~23 MB of metric points per process (docs/benchmarks.md). Not exported (so
            // not recorded); Orleans' message counts, request latency and the rest stay.
            .AddView(OrleansSentMessageSizes, MetricStreamConfiguration.Drop)
            .AddView(OrleansReceivedMessageSizes, MetricStreamConfiguration.Drop)
            .AddAspNetCoreInstrumentation()
            .AddRuntimeInstrumentation()
            .AddPrometheusExporter());
        return services;
    }

    /// <param name="publicApi">
    /// False for a grains-only node (<c>Orleans:Role=Silo</c>): health and metrics, no sockets, REST, admin or demo.
    /// </param>
    public static IEndpointRouteBuilder MapCallGrainsGateway(this WebApplication app, bool publicApi = true)
    {
        // Client addresses first (the rate limit keys on them), then the static files, which cost nothing to serve
        // and must load even for an address over its budget.
        app.UseKnownProxies();
        if (publicApi)
        {
            app.UseBrowserAssets();
            app.UseRestRateLimit();
            app.UseWebSockets();
        }

        // Liveness runs no check (the process answers); readiness runs every registered one.
        app.MapHealthChecks("/alive", new HealthCheckOptions { Predicate = _ => false });
        app.MapGet("/healthz", Readiness.AnswerAsync);
        app.UseManagementPort();
        app.MapPrometheusScrapingEndpoint("/metrics").ManagementOnly();
        if (publicApi)
        {
            app.MapWebSocketApi();
            app.MapRestApi();
            app.MapAdminApi();
            app.MapDevelopmentApi();
        }

        return app;
    }

    private static void TryAddTimeProvider(this IServiceCollection services)
    {
        if (!services.Any(d => d.ServiceType == typeof(TimeProvider)))
        {
            services.AddSingleton(TimeProvider.System);
        }
    }
}
