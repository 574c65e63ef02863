using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace CallGrains.Grains.Push.Apns;

public static class ApnsServiceCollectionExtensions
{
    /// <summary>
    /// The <c>Push:Apns</c> options, validated at start (all four settings or none, a readable P-256 key), and, when
    /// they are set, the APNs provider as an <see cref="IPushProvider"/>. Unset, APNs is off and nothing is registered.
    /// </summary>
    public static IServiceCollection AddApnsPush(this IServiceCollection services, IConfiguration configuration)
    {
        var section = configuration.GetSection(ApnsOptions.Section);
        services.AddOptions<ApnsOptions>().Bind(section).ValidateDataAnnotations().ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<ApnsOptions>, ApnsOptionsValidator>());
        if (section.Get<ApnsOptions>() is not { IsConfigured: true })
        {
            return services;
        }

        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<PushMetrics>();
        services.TryAddSingleton<ApnsProvider>();
        services.AddSingleton<IPushProvider>(sp => sp.GetRequiredService<ApnsProvider>());
        return services;
    }
}
