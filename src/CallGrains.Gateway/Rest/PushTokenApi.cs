using System.Collections.Immutable;
using System.Text.Json;
using CallGrains.Abstractions;
using CallGrains.Gateway.Auth;
using CallGrains.Gateway.Protocol;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace CallGrains.Gateway.Rest;

/// <summary>
/// PROTOCOL sections 8 and 10, push tokens: <c>PUT /v1/me/push-tokens/{deviceId}</c> <c>{"platform","token"}</c>,
/// <c>GET /v1/me/push-tokens</c>, <c>DELETE /v1/me/push-tokens/{deviceId}</c> (the bearer's own), and
/// <c>GET /v1/users/{uid}/push-tokens</c> (any user's, with the admin key, tokens as short hashes).
/// </summary>
public static class PushTokenApi
{
    // A token is at most 4096 characters: a body past this is not a push token registration.
    internal const int MaxBodyBytes = 8 * 1024;

    public static IEndpointRouteBuilder MapPushTokenApi(this IEndpointRouteBuilder app)
    {
        var mine = app.MapGroup("/v1/me/push-tokens");
        mine.MapPut("/{deviceId}", Register);
        mine.MapGet("", ListOwn);
        mine.MapDelete("/{deviceId}", Remove);
        return app;
    }

    public static async Task<IResult> ListAnyUsers(string uid, IGrainFactory grains) =>
        Identifiers.IsValidUid(uid) && await grains.Ref<IUserGrain>(uid).GetPushTokens() is { } tokens
            ? List(tokens, hashed: true)
            : RestResults.Error(StatusCodes.Status404NotFound, CallErrorCode.UidNotFound, $"no user {uid}");

    private static async Task<IResult> Register(string deviceId, HttpRequest request, IGrainFactory grains, Tokens tokens)
    {
        if (await RestApi.Authenticate(request, grains, tokens) is not { } uid)
        {
            return RestResults.NotLoggedIn();
        }

        if (!Identifiers.IsValidDeviceId(deviceId))
        {
            return BadDeviceId();
        }

        var (platform, token, problem) = await ReadAsync(request);
        if (problem is not null)
        {
            return BadRequest(problem);
        }

        var registered = await grains.Ref<IUserGrain>(uid).SetPushToken(deviceId, platform, token!);
        if (registered.Error is { } error)
        {
            return RestResults.FromError(error);
        }

        // The other user it was taken from is told here: a user grain never calls another user grain.
        if (registered.TakenFrom is { } from)
        {
            await grains.Ref<IUserGrain>(from.Uid).PushTokenMoved(from.DeviceId, platform, from.Claim);
        }

        return new JsonBytes(Wire.Write(w => WriteEntry(w, registered.Token!, hashed: false)), StatusCodes.Status200OK);
    }

    private static async Task<IResult> ListOwn(HttpRequest request, IGrainFactory grains, Tokens tokens)
    {
        if (await RestApi.Authenticate(request, grains, tokens) is not { } uid)
        {
            return RestResults.NotLoggedIn();
        }

        return await grains.Ref<IUserGrain>(uid).GetPushTokens() is { } list
            ? List(list, hashed: false)
            : RestResults.Error(StatusCodes.Status404NotFound, CallErrorCode.UidNotFound, $"no user {uid}");
    }

    // Idempotent: removing a device that has no token is done already (an app that unregisters twice, or after a
    // "gone" answer removed it, has nothing to handle).
    private static async Task<IResult> Remove(string deviceId, HttpRequest request, IGrainFactory grains, Tokens tokens)
    {
        if (await RestApi.Authenticate(request, grains, tokens) is not { } uid)
        {
            return RestResults.NotLoggedIn();
        }

        if (!Identifiers.IsValidDeviceId(deviceId))
        {
            return BadDeviceId();
        }

        return await grains.Ref<IUserGrain>(uid).RemoveDevicePushTokens(deviceId)
            ? Results.NoContent()
            : RestResults.Error(StatusCodes.Status404NotFound, CallErrorCode.UidNotFound, $"no user {uid}");
    }

    /// <summary>The <c>{"platform","token"}</c> body, checked and the token normalised; or what is wrong with it.</summary>
    private static async Task<(PushPlatform Platform, string? Token, string? Problem)> ReadAsync(HttpRequest request)
    {
        const string shape = "the body must be a JSON object {\"platform\":\"apns-voip\"|\"apns\"|\"fcm\",\"token\":\"...\"}";
        var (body, problem) = await JsonBody.ReadObjectAsync(request, MaxBodyBytes, shape);
        if (body is null)
        {
            return (default, null, problem);
        }

        string? platformName;
        string? token;
        using (body)
        {
            platformName = body.RootElement.TryGetProperty("platform", out var p) ? JsonText.StringOrNull(p) : null;
            token = body.RootElement.TryGetProperty("token", out var t) ? JsonText.StringOrNull(t) : null;
        }

        if (!WireNames.TryParse(platformName, out PushPlatform platform))
        {
            return (default, null, "platform must be apns-voip, apns or fcm");
        }

        var (checkedToken, badToken) = PushTokens.Check(platform, token);
        return (platform, checkedToken, badToken);
    }

    private static JsonBytes List(ImmutableArray<PushToken> tokens, bool hashed) => new(Wire.Write(w =>
    {
        w.WriteStartObject();
        w.WriteStartArray("pushTokens");
        foreach (var token in tokens)
        {
            WriteEntry(w, token, hashed);
        }

        w.WriteEndArray();
        w.WriteEndObject();
    }), StatusCodes.Status200OK);

    /// <summary><c>{"deviceId","platform","token","registeredAt"}</c>; for operators <c>tokenHash</c> instead of the token.</summary>
    private static void WriteEntry(Utf8JsonWriter w, PushToken token, bool hashed)
    {
        w.WriteStartObject();
        w.WriteString("deviceId", token.DeviceId);
        w.WriteString("platform", token.Platform.Name());
        if (hashed)
        {
            w.WriteString("tokenHash", PushTokens.ShortHash(token.Token));
        }
        else
        {
            w.WriteString("token", token.Token);
        }

        w.WriteNumber("registeredAt", Wire.UnixSeconds(token.RegisteredAt));
        w.WriteEndObject();
    }

    private static IResult BadDeviceId() => BadRequest("deviceId must be 1-64 characters of [A-Za-z0-9._-]");

    private static IResult BadRequest(string message) => RestResults.Error(StatusCodes.Status400BadRequest, CallErrorCode.BadRequest, message);
}
