using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace CallGrains.Grains.Push.Fcm;

public static class FcmServiceCollectionExtensions
{
    /// <summary>
    /// FCM as an <see cref="IPushProvider"/> when <c>Push:Fcm</c> is configured (PROTOCOL section 10); with no
    /// configuration it registers nothing and FCM is off. The options are checked at start: a missing or unreadable
    /// service account file stops the host with the reason.
    /// </summary>
    public static IServiceCollection AddFcmPush(this IServiceCollection services, IConfiguration configuration)
    {
        var section = configuration.GetSection(FcmOptions.Section);
        if (!section.Get<FcmOptions>()?.IsConfigured ?? true)
        {
            return services;
        }

        services.AddOptions<FcmOptions>().Bind(section).ValidateDataAnnotations().ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<FcmOptions>, FcmOptionsValidator>());
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<PushMetrics>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IPushProvider, FcmProvider>());
        return services;
    }
}
