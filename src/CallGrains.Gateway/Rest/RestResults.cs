using CallGrains.Abstractions;
using CallGrains.Gateway.Protocol;
using Microsoft.AspNetCore.Http;

namespace CallGrains.Gateway.Rest;

public static class RestResults
{
    public static IResult Error(int status, CallErrorCode code, string message) =>
        new JsonBytes(Wire.ErrorBody(code, message), status);

    public static IResult NotLoggedIn() => Error(StatusCodes.Status401Unauthorized, CallErrorCode.UserNotLoggedIn, "a valid auth token is required");

    public static IResult Call(CallInfo call) => new JsonBytes(Wire.Write(w =>
    {
        w.WriteStartObject();
        w.WritePropertyName("call");
        Wire.WriteCall(w, call);
        w.WriteEndObject();
    }), StatusCodes.Status200OK);

    public static IResult FromError(CallError error) => Error(StatusFor(error.Code), error.Code, error.Message);

    public static int StatusFor(CallErrorCode code) => code switch
    {
        CallErrorCode.CallNotFound or CallErrorCode.UidNotFound or CallErrorCode.GuidNotFound => StatusCodes.Status404NotFound,
        CallErrorCode.PermissionDenied => StatusCodes.Status403Forbidden,
        CallErrorCode.UserNotLoggedIn => StatusCodes.Status401Unauthorized,
        CallErrorCode.BadRequest or CallErrorCode.InvalidSessionId or CallErrorCode.CallingSelf => StatusCodes.Status400BadRequest,
        CallErrorCode.TooManyRequests => StatusCodes.Status429TooManyRequests,
        CallErrorCode.Internal => StatusCodes.Status500InternalServerError,
        _ => StatusCodes.Status409Conflict,
    };

    public static async Task WriteError(HttpContext http, int status, CallErrorCode code, string message)
    {
        http.Response.StatusCode = status;
        http.Response.ContentType = "application/json";
        await http.Response.Body.WriteAsync(Wire.ErrorBody(code, message));
    }
}

/// <summary>Pre-serialised JSON with a status code.</summary>
internal sealed class JsonBytes(byte[] body, int status) : IResult
{
    public async Task ExecuteAsync(HttpContext httpContext)
    {
        httpContext.Response.StatusCode = status;
        httpContext.Response.ContentType = "application/json";
        await httpContext.Response.Body.WriteAsync(body);
    }
}
