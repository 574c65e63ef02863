using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace CallGrains.Gateway.Rest;

/// <summary>
/// <c>Gateway:ManagementPort</c>: endpoints marked <see cref="ManagementOnly{TBuilder}"/> answer only on that port and
/// are 404 on the public one, as if they did not exist. The check is on the port the connection arrived at, not on the
/// Host header (what <c>RequireHost</c> matches), which any client chooses.
/// </summary>
public static class ManagementPort
{
    public static TBuilder ManagementOnly<TBuilder>(this TBuilder builder)
        where TBuilder : IEndpointConventionBuilder => builder.WithMetadata(ManagementOnlyMetadata.Instance);

    /// <summary>Refuses management endpoints on any other port; runs after routing has chosen the endpoint.</summary>
    public static IApplicationBuilder UseManagementPort(this IApplicationBuilder app) =>
        app.Use((http, next) =>
        {
            if (http.GetEndpoint()?.Metadata.GetMetadata<ManagementOnlyMetadata>() is null || IsAllowed(http))
            {
                return next(http);
            }

            http.Response.StatusCode = StatusCodes.Status404NotFound;
            return Task.CompletedTask;
        });

    /// <summary>Whether operator requests may be served on this connection: no management port, or this is it.</summary>
    internal static bool IsAllowed(HttpContext http) =>
        http.RequestServices.GetRequiredService<IOptions<GatewayOptions>>().Value.ManagementPort is not { } port
        || http.Connection.LocalPort == port;

    private sealed class ManagementOnlyMetadata
    {
        public static readonly ManagementOnlyMetadata Instance = new();
    }
}
