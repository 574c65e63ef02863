using CallGrains.Gateway;

namespace CallGrains.Host;

/// <summary>The whole node: an Orleans silo and the gateway in one ASP.NET Core process.</summary>
public static class CallGrainsApp
{
    /// <param name="args">Command line, as for any ASP.NET Core host (<c>--urls</c>, <c>--Calls:RingTimeoutSeconds=30</c>).</param>
    /// <param name="configure">Lets tests and tools adjust the builder before it is built.</param>
    public static WebApplication Build(string[] args, Action<WebApplicationBuilder>? configure = null)
    {
        var builder = WebApplication.CreateBuilder(args);
        builder.Services.AddOptions<SiloOptions>().BindConfiguration(SiloOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        builder.UseOrleans(silo => silo.AddCallGrainsSilo(builder.Configuration));
        builder.Services.AddCallGrainsGateway(builder.Configuration, builder.Environment);
        builder.Services.AddCallGrainsHealth(builder.Configuration);
        builder.Services.AddCallGrainsTracing(builder.Configuration);
        builder.WebHost.ConfigureKestrel(k => k.Limits.MaxRequestBodySize = 64 * 1024);
        ManagementListener.Add(builder);
        configure?.Invoke(builder);

        var app = builder.Build();
        app.MapCallGrainsGateway();
        app.MapInfoApi();
        app.Lifetime.ApplicationStarted.Register(() => StartupBanner.Print(app));
        return app;
    }
}
