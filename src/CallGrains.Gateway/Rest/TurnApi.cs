using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using CallGrains.Gateway.Auth;
using CallGrains.Gateway.Protocol;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace CallGrains.Gateway.Rest;

/// <summary>
/// PROTOCOL section 12: <c>GET /v1/turn</c> gives the bearer short-lived TURN credentials in the TURN REST scheme
/// (coturn's <c>use-auth-secret</c>): <c>{"iceServers":[{"urls","username","credential"}],"ttl"}</c>, or
/// <c>{"iceServers":[],"ttl":0}</c> when <c>Turn:Urls</c> is not set.
/// </summary>
public static class TurnApi
{
    public static IServiceCollection AddTurnCredentials(this IServiceCollection services)
    {
        services.AddOptions<TurnOptions>().BindConfiguration(TurnOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<IValidateOptions<TurnOptions>, TurnOptionsValidator>();
        services.AddSingleton<TurnCredentials>();
        return services;
    }

    public static IEndpointRouteBuilder MapTurnApi(this IEndpointRouteBuilder app)
    {
        app.MapGet("/v1/turn", GetAsync);
        return app;
    }

    private static async Task<IResult> GetAsync(HttpContext http, IGrainFactory grains, Tokens tokens, TurnCredentials turn)
    {
        // A credential is a password for the TURN server: no cache or proxy keeps it, and the next ask gets a fresh one.
        http.Response.Headers.CacheControl = "no-store";
        return await RestApi.Authenticate(http.Request, grains, tokens) is { } uid
            ? new JsonBytes(turn.AnswerFor(uid), StatusCodes.Status200OK)
            : RestResults.NotLoggedIn();
    }
}

/// <summary>
/// Mints TURN REST credentials: username <c>&lt;expiry unix seconds&gt;:&lt;uid&gt;</c>, credential the base64 HMAC-SHA1
/// of the username keyed with <c>Turn:Secret</c>, which the TURN server recomputes and whose expiry it checks.
/// </summary>
public sealed class TurnCredentials(IOptions<TurnOptions> options, [FromKeyedServices(GatewayHosting.ClockKey)] TimeProvider clock)
{
    private static readonly byte[] NoServers = Wire.Write(w =>
    {
        w.WriteStartObject();
        w.WriteStartArray("iceServers");
        w.WriteEndArray();
        w.WriteNumber("ttl", 0);
        w.WriteEndObject();
    });

    private readonly string[] _urls = options.Value.UrlList();
    private readonly byte[] _key = Encoding.UTF8.GetBytes(options.Value.Secret ?? "");
    private readonly int _ttlSeconds = options.Value.TtlSeconds;

    /// <summary>The answer of <c>GET /v1/turn</c> for a user.</summary>
    public byte[] AnswerFor(string uid)
    {
        if (_urls.Length == 0)
        {
            return NoServers;
        }

        var expiry = clock.GetUtcNow().ToUnixTimeSeconds() + _ttlSeconds;
        var username = $"{expiry.ToString(CultureInfo.InvariantCulture)}:{uid}";
        return Wire.Write(w =>
        {
            w.WriteStartObject();
            w.WriteStartArray("iceServers");
            w.WriteStartObject();
            w.WriteStartArray("urls");
            foreach (var url in _urls)
            {
                w.WriteStringValue(url);
            }

            w.WriteEndArray();
            w.WriteString("username", username);
            w.WriteString("credential", Credential(_key, username));
            w.WriteEndObject();
            w.WriteEndArray();
            w.WriteNumber("ttl", _ttlSeconds);
            w.WriteEndObject();
        });
    }

    [System.Diagnostics.CodeAnalysis.SuppressMessage("Security", "CA5350", Justification = "The TURN REST scheme that coturn checks is HMAC-SHA1; the secret's strength is what protects it.")]
    private static string Credential(byte[] key, string username) =>
        Convert.ToBase64String(HMACSHA1.HashData(key, Encoding.UTF8.GetBytes(username)));
}
