using System.Globalization;
using CallGrains.Abstractions;
using Microsoft.AspNetCore.Http;

namespace CallGrains.Gateway;

/// <summary>
/// PROTOCOL section 8, call logs: <c>GET /v1/calls</c> (the bearer's own) and <c>GET /v1/users/{uid}/calls</c> (any
/// user's, with the admin key): <c>{"calls":[call + direction + missed, ...],"next":"cursor"|null}</c>, newest first.
/// </summary>
public static class CallLogApi
{
    private static readonly string[] Parameters = ["limit", "cursor", "status", "callType", "direction", "receiverType", "missed"];

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
        var (query, problem) = Parse(uid, parameters, tokens);
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
                    more.WriteString("direction", entry.Direction == CallDirection.Outgoing ? "outgoing" : "incoming");
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

    /// <summary>The query the parameters ask for, or what is wrong with them (for the 400 answer).</summary>
    public static (CallLogQuery? Query, string? Problem) Parse(string uid, IQueryCollection parameters, Tokens tokens)
    {
        foreach (var (name, values) in parameters)
        {
            if (!Parameters.Contains(name, StringComparer.Ordinal))
            {
                return (null, $"unknown parameter '{name}'; the log takes {string.Join(", ", Parameters)}");
            }

            if (values.Count != 1 || string.IsNullOrEmpty(values[0]))
            {
                return (null, $"'{name}' must be given once, with a value");
            }
        }

        string? Value(string name) => parameters.TryGetValue(name, out var v) ? v[0] : null;
        var query = new CallLogQuery();
        if (Value("limit") is { } limit)
        {
            if (!int.TryParse(limit, NumberStyles.None, CultureInfo.InvariantCulture, out var n) || n is < 1 or > CallHistory.MaxPageSize)
            {
                return (null, $"limit must be a whole number from 1 to {CallHistory.MaxPageSize}");
            }

            query = query with { Limit = n };
        }

        if (Value("cursor") is { } cursor)
        {
            if (tokens.VerifyCursor(uid, cursor) is not { } after)
            {
                return (null, "cursor was not issued by this server for this log; start again without one");
            }

            query = query with { After = after };
        }

        if (Value("status") is { } status)
        {
            if (Enum.GetValues<CallStatus>().Where(s => s.Name() == status).Select(s => (CallStatus?)s).FirstOrDefault() is not { } known)
            {
                return (null, "status must be one of initiated, ongoing, unanswered, rejected, busy, cancelled, ended");
            }

            query = query with { Status = known };
        }

        return Value("callType") switch
        {
            null or "audio" or "video" => Value("direction") switch
            {
                null or "incoming" or "outgoing" => Value("receiverType") switch
                {
                    null or "user" or "group" => Value("missed") switch
                    {
                        null or "true" or "false" => (query with
                        {
                            CallType = Value("callType") is { } t ? (t == "video" ? CallType.Video : CallType.Audio) : null,
                            Direction = Value("direction") is { } d ? (d == "outgoing" ? CallDirection.Outgoing : CallDirection.Incoming) : null,
                            ReceiverType = Value("receiverType") is { } r ? (r == "group" ? ReceiverType.Group : ReceiverType.User) : null,
                            Missed = Value("missed") is { } m ? m == "true" : null,
                        }, null),
                        _ => (null, "missed must be true or false"),
                    },
                    _ => (null, "receiverType must be user or group"),
                },
                _ => (null, "direction must be incoming or outgoing"),
            },
            _ => (null, "callType must be audio or video"),
        };
    }
}
