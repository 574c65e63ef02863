using System.Text.Json;
using CallGrains.Abstractions;
using CallGrains.Gateway.Auth;
using CallGrains.Gateway.Protocol;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace CallGrains.Gateway.Rest;

/// <summary>PROTOCOL section 8: users and tokens (admin), calls by id and call logs (user; any user's log for admins), push tokens, TURN credentials, webhook endpoints (admin).</summary>
public static class RestApi
{
    public static IEndpointRouteBuilder MapRestApi(this IEndpointRouteBuilder app)
    {
        var admin = app.MapGroup("/v1/users").AddEndpointFilter(RequireAdmin).ManagementOnly();
        admin.MapPost("/", CreateUser);
        admin.MapGet("/{uid}", GetUser);
        admin.MapPost("/{uid}/tokens", IssueToken);
        admin.MapDelete("/{uid}/tokens", RevokeTokens);

        admin.MapGet("/{uid}/calls", CallLogApi.ListAnyUsersCalls);
        admin.MapGet("/{uid}/push-tokens", PushTokenApi.ListAnyUsers);

        var calls = app.MapGroup("/v1/calls");
        calls.MapGet("", CallLogApi.ListOwnCalls);
        calls.MapGet("/{sessionId}", GetCall);
        calls.MapPost("/{sessionId}/token", CallToken);
        app.MapGroupApi();
        app.MapPushTokenApi();
        app.MapTurnApi();
        app.MapWebhookApi();
        return app;
    }

    internal static async ValueTask<object?> RequireAdmin(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var tokens = context.HttpContext.RequestServices.GetRequiredService<Tokens>();
        return tokens.IsAdminKey(context.HttpContext.Request.Headers["X-Api-Key"].FirstOrDefault())
            ? await next(context)
            : RestResults.Error(StatusCodes.Status401Unauthorized, CallErrorCode.PermissionDenied, "X-Api-Key is missing or wrong");
    }

    private static async Task<IResult> CreateUser(HttpRequest request, IGrainFactory grains)
    {
        var (uid, name, refused) = await ReadUserAsync(request, nameRequired: true);
        if (refused is not null)
        {
            return refused;
        }

        return await grains.Ref<IUserGrain>(uid!).Create(name!)
            ? Results.Json(new { uid, name }, statusCode: StatusCodes.Status201Created)
            : RestResults.Error(StatusCodes.Status409Conflict, CallErrorCode.BadRequest, $"user {uid} already exists");
    }

    /// <summary>A <c>{"uid","name"}</c> body, checked; or the 400 that refuses it. Without <paramref name="nameRequired"/> the name may be left out.</summary>
    internal static async Task<(string? Uid, string? Name, IResult? Refused)> ReadUserAsync(HttpRequest request, bool nameRequired)
    {
        string? uid;
        string? name;
        try
        {
            using var body = await JsonDocument.ParseAsync(request.Body);
            uid = body.RootElement.TryGetProperty("uid", out var u) ? JsonText.StringOrNull(u) : null;
            name = body.RootElement.TryGetProperty("name", out var n) ? JsonText.StringOrNull(n) : null;
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException)
        {
            return (null, null, RestResults.Error(StatusCodes.Status400BadRequest, CallErrorCode.BadRequest, "the body must be a JSON object {\"uid\",\"name\"}"));
        }

        if (!Identifiers.IsValidUid(uid))
        {
            return (null, null, RestResults.Error(StatusCodes.Status400BadRequest, CallErrorCode.BadRequest, "uid must be 1-100 characters of [A-Za-z0-9_-]"));
        }

        if ((nameRequired || name is not null) && !Identifiers.IsValidName(name))
        {
            return (null, null, RestResults.Error(StatusCodes.Status400BadRequest, CallErrorCode.BadRequest, Identifiers.NameRule));
        }

        return (uid, name, null);
    }

    private static async Task<IResult> GetUser(string uid, IGrainFactory grains) =>
        Identifiers.IsValidUid(uid) && await grains.Ref<IUserGrain>(uid).GetProfile() is { } profile
            ? Results.Json(new { uid = profile.Uid, name = profile.Name })
            : RestResults.Error(StatusCodes.Status404NotFound, CallErrorCode.UidNotFound, $"no user {uid}");

    private static async Task<IResult> IssueToken(string uid, IGrainFactory grains, Tokens tokens)
    {
        if (!Identifiers.IsValidUid(uid) || await grains.Ref<IUserGrain>(uid).GetTokenGeneration() is not { } generation)
        {
            return RestResults.Error(StatusCodes.Status404NotFound, CallErrorCode.UidNotFound, $"no user {uid}");
        }

        var (token, expiresAt) = tokens.IssueAuthToken(uid, generation);
        return Results.Json(new { authToken = token, expiresAt = expiresAt.ToUnixTimeSeconds() }, statusCode: StatusCodes.Status201Created);
    }

    private static async Task<IResult> RevokeTokens(string uid, IGrainFactory grains) =>
        Identifiers.IsValidUid(uid) && await grains.Ref<IUserGrain>(uid).RevokeTokens()
            ? Results.NoContent()
            : RestResults.Error(StatusCodes.Status404NotFound, CallErrorCode.UidNotFound, $"no user {uid}");

    private static async Task<IResult> GetCall(string sessionId, HttpRequest request, IGrainFactory grains, Tokens tokens)
    {
        var (uid, session, refused) = await CallerAndSessionAsync(sessionId, request, grains, tokens);
        if (refused is not null)
        {
            return refused;
        }

        var result = await session!.GetCall(uid!);
        return result.Ok ? RestResults.Call(result.Call!) : RestResults.FromError(result.Error!);
    }

    private static async Task<IResult> CallToken(string sessionId, HttpRequest request, IGrainFactory grains, Tokens tokens)
    {
        var (uid, session, refused) = await CallerAndSessionAsync(sessionId, request, grains, tokens);
        if (refused is not null)
        {
            return refused;
        }

        var result = await session!.AuthorizeMedia(uid!);
        if (!result.Ok)
        {
            return RestResults.FromError(result.Error!);
        }

        var (token, expiresAt) = tokens.IssueCallToken(uid!, sessionId);
        return Results.Json(new { token, expiresAt = expiresAt.ToUnixTimeSeconds() });
    }

    /// <summary>The authenticated user and the session a user call is about, or the response that refuses it.</summary>
    private static async Task<(string? Uid, ICallSessionGrain? Session, IResult? Refused)> CallerAndSessionAsync(
        string sessionId, HttpRequest request, IGrainFactory grains, Tokens tokens)
    {
        if (await Authenticate(request, grains, tokens) is not { } uid)
        {
            return (null, null, RestResults.NotLoggedIn());
        }

        return Identifiers.IsValidSessionId(sessionId)
            ? (uid, grains.Ref<ICallSessionGrain>(sessionId), null)
            : (null, null, RestResults.Error(StatusCodes.Status400BadRequest, CallErrorCode.InvalidSessionId, "sessionId must be 1-128 characters of [A-Za-z0-9._:-]"));
    }

    /// <summary>The bearer's uid if the token verifies and has not been revoked.</summary>
    internal static async Task<string?> Authenticate(HttpRequest request, IGrainFactory grains, Tokens tokens)
    {
        if (tokens.VerifyAuthToken(Tokens.BearerToken(request)) is not { } claims)
        {
            return null;
        }

        return await grains.Ref<IUserGrain>(claims.Uid).GetTokenGeneration() == claims.Generation ? claims.Uid : null;
    }
}
