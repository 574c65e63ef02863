using CallGrains.Abstractions;
using CallGrains.Gateway.Auth;
using CallGrains.Gateway.Protocol;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace CallGrains.Gateway.Rest;

/// <summary>
/// Operator reads, extensions of PROTOCOL section 8 (docs/protocol.md, "Operator endpoints"): a user's server-side
/// state, and any call by id with the admin key. For support and for invariant checks (the chaos test).
/// </summary>
public static class AdminApi
{
    private const string ApiKeyHeader = "X-Api-Key";

    // The user endpoint of RestApi this extends: with the admin key it answers for any call.
    private const string CallByIdPattern = "/v1/calls/{sessionId}";

    public static WebApplication MapAdminApi(this WebApplication app)
    {
        app.MapGet("/v1/users/{uid}/state", GetUserState).AddEndpointFilter(RequireAdmin).ManagementOnly();

        // Routing cannot choose between two endpoints by a header, and the user path must stay as it is; so a request
        // that reached the user endpoint carrying X-Api-Key is answered here, before that endpoint runs.
        app.Use((http, next) => IsAdminCallRead(http) ? GetAnyCallAsync(http) : next(http));
        return app;
    }

    // On the public port, when a management port is set, the request is the user's (a bearer token or nothing).
    private static bool IsAdminCallRead(HttpContext http) =>
        HttpMethods.IsGet(http.Request.Method)
        && http.Request.Headers.ContainsKey(ApiKeyHeader)
        && http.GetEndpoint() is RouteEndpoint { RoutePattern.RawText: CallByIdPattern }
        && ManagementPort.IsAllowed(http);

    private static async ValueTask<object?> RequireAdmin(EndpointFilterInvocationContext context, EndpointFilterDelegate next) =>
        IsAdmin(context.HttpContext) ? await next(context) : WrongKey();

    private static bool IsAdmin(HttpContext http) =>
        http.RequestServices.GetRequiredService<Tokens>().IsAdminKey(http.Request.Headers[ApiKeyHeader].FirstOrDefault());

    private static IResult WrongKey() =>
        RestResults.Error(StatusCodes.Status401Unauthorized, CallErrorCode.PermissionDenied, "X-Api-Key is missing or wrong");

    /// <summary><c>{"uid","seq","activeCall","ringing","devices":[{"deviceId","gatewayId","connectedAt"}]}</c>, as the user grain holds it.</summary>
    private static async Task<IResult> GetUserState(string uid, IGrainFactory grains)
    {
        if (!Identifiers.IsValidUid(uid) || await grains.Ref<IUserGrain>(uid).GetSnapshot() is not { } snapshot)
        {
            return RestResults.Error(StatusCodes.Status404NotFound, CallErrorCode.UidNotFound, $"no user {uid}");
        }

        return new JsonBytes(Wire.Write(w =>
        {
            w.WriteStartObject();
            w.WriteString("uid", snapshot.Uid);
            w.WriteNumber("seq", snapshot.Seq);
            Wire.WriteCallOrNull(w, "activeCall", snapshot.ActiveCall);
            Wire.WriteCalls(w, "ringing", snapshot.Ringing);
            w.WriteStartArray("devices");
            foreach (var device in snapshot.Devices)
            {
                w.WriteStartObject();
                w.WriteString("deviceId", device.DeviceId);
                w.WriteString("gatewayId", device.GatewayId);
                w.WriteNumber("connectedAt", Wire.UnixSeconds(device.ConnectedAt));
                w.WriteEndObject();
            }

            w.WriteEndArray();
            w.WriteEndObject();
        }), StatusCodes.Status200OK);
    }

    /// <summary>Any call by id, with no party check: the session as stored.</summary>
    private static async Task GetAnyCallAsync(HttpContext http)
    {
        var sessionId = http.GetRouteValue("sessionId") as string;
        var result = !IsAdmin(http) ? WrongKey()
            : !Identifiers.IsValidSessionId(sessionId)
                ? RestResults.Error(StatusCodes.Status400BadRequest, CallErrorCode.InvalidSessionId, "sessionId must be 1-128 characters of [A-Za-z0-9._:-]")
            : await http.RequestServices.GetRequiredService<IGrainFactory>().Ref<ICallSessionGrain>(sessionId!).Peek() is { } call
                ? RestResults.Call(call)
                : RestResults.Error(StatusCodes.Status404NotFound, CallErrorCode.CallNotFound, $"no call {sessionId}");
        await result.ExecuteAsync(http);
    }
}
