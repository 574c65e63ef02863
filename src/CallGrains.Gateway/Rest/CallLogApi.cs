using CallGrains.Abstractions;
using CallGrains.Gateway.Auth;
using CallGrains.Gateway.Protocol;
using Microsoft.AspNetCore.Http;

namespace CallGrains.Gateway.Rest;

/// <summary>
/// PROTOCOL section 8, call logs: <c>GET /v1/calls</c> (the bearer's own) and <c>GET /v1/users/{uid}/calls</c> (any
/// user's, with the admin key): <c>{"calls":[call + direction + missed, ...],"next":"cursor"|null}</c>, newest first.
/// </summary>
public static class CallLogApi
{
    public static async Task<IResult> ListOwnCalls(HttpRequest request, IGrainFactory grains, Tokens tokens, ICallLog log) =>
        await RestApi.Authenticate(request, grains, tokens) is { } uid
            ? await ListAsync(uid, request.Query, tokens, log)
            : RestResults.NotLoggedIn();

    public static async Task<IResult> ListAnyUsersCalls(string uid, HttpRequest request, IGrainFactory grains, Tokens tokens, ICallLog log) =>
        Identifiers.IsValidUid(uid) && await grains.Ref<IUserGrain>(uid).GetProfile() is not null
            ? await ListAsync(uid, request.Query, tokens, log)
            : RestResults.Error(StatusCodes.Status404NotFound, CallErrorCode.UidNotFound, $"no user {uid}");

    private static async Task<IResult> ListAsync(string uid, IQueryCollection parameters, Tokens tokens, ICallLog log)
    {
        var (query, problem) = CallLogQueryReader.Read(parameters, cursor => tokens.VerifyCursor(uid, cursor));
        if (query is null)
        {
            return RestResults.Error(StatusCodes.Status400BadRequest, CallErrorCode.BadRequest, problem!);
        }

        var page = await log.QueryAsync(uid, query);
        return new JsonBytes(Wire.Write(w =>
        {
            w.WriteStartObject();
            w.WriteStartArray("calls");
            foreach (var entry in page.Entries)
            {
                Wire.WriteCall(w, entry.Call, more =>
                {
                    more.WriteString("direction", entry.Direction.Name());
                    more.WriteBoolean("missed", entry.Missed);
                });
            }

            w.WriteEndArray();
            if (page.Next is { } next)
            {
                w.WriteString("next", tokens.IssueCursor(uid, next));
            }
            else
            {
                w.WriteNull("next");
            }

            w.WriteEndObject();
        }), StatusCodes.Status200OK);
    }
}
