using CallGrains.Gateway;
using CallGrains.Gateway.Sockets;

namespace CallGrains.Host;

/// <summary>
/// A node: by default an Orleans silo and the gateway in one ASP.NET Core process; with <c>Orleans:Role</c> a silo
/// only (grains, health and metrics) or an edge (the gateway as an Orleans client).
/// </summary>
public static class CallGrainsApp
{
    /// <param name="args">Command line, as for any ASP.NET Core host (<c>--urls</c>, <c>--Calls:RingTimeoutSeconds=30</c>).</param>
    /// <param name="configure">Lets tests and tools adjust the builder before it is built.</param>
    public static WebApplication Build(string[] args, Action<WebApplicationBuilder>? configure = null)
    {
        var builder = WebApplication.CreateBuilder(args);
        builder.Services.AddOptions<SiloOptions>().BindConfiguration(SiloOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        var options = builder.Configuration.GetSection(SiloOptions.Section).Get<SiloOptions>() ?? new SiloOptions();
        var role = options.Role;
        if (role == NodeRole.Edge)
        {
            EdgeClient.Add(builder, options);
        }
        else
        {
            builder.UseOrleans(silo => silo.AddCallGrainsSilo(builder.Configuration));
        }

        builder.Services.AddCallGrainsGateway(builder.Configuration, builder.Environment, edge: role == NodeRole.Edge);
        builder.Services.AddCallGrainsHealth(builder.Configuration, role);
        builder.Services.AddCallGrainsTracing(builder.Configuration);
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Limits.MaxRequestBodySize = 64 * 1024;
            if (role != NodeRole.Silo)
            {
                k.UseDirectUpgrade();
            }
        });
        ManagementListener.Add(builder);
        configure?.Invoke(builder);

        var app = builder.Build();
        app.MapCallGrainsGateway(publicApi: role != NodeRole.Silo);
        if (role != NodeRole.Silo)
        {
            app.MapInfoApi();
        }

        app.Lifetime.ApplicationStarted.Register(() => StartupBanner.Print(app, role));
        return app;
    }
}
