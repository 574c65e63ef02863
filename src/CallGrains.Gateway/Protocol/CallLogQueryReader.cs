using System.Globalization;
using CallGrains.Abstractions;
using Microsoft.AspNetCore.Http;

namespace CallGrains.Gateway.Protocol;

/// <summary>Reads the query parameters of PROTOCOL section 8's call log (<c>GET /v1/calls</c>).</summary>
public static class CallLogQueryReader
{
    private delegate bool TryParseName<T>(string? name, out T value);

    private static readonly string[] Parameters = ["limit", "cursor", "status", "callType", "direction", "receiverType", "missed"];

    /// <summary>
    /// The query the parameters ask for, or what is wrong with them (for the 400 answer); <paramref name="verifyCursor"/>
    /// gives the position a cursor names, or null if this server did not issue it for this log.
    /// </summary>
    public static (CallLogQuery? Query, string? Problem) Read(IQueryCollection parameters, Func<string, CallLogPosition?> verifyCursor)
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
            if (verifyCursor(cursor) is not { } after)
            {
                return (null, "cursor was not issued by this server for this log; start again without one");
            }

            query = query with { After = after };
        }

        if (!Filter(Value("status"), WireNames.TryParse, out CallStatus? status))
        {
            return (null, "status must be one of initiated, ongoing, unanswered, rejected, busy, cancelled, ended");
        }

        if (!Filter(Value("callType"), WireNames.TryParse, out CallType? callType))
        {
            return (null, "callType must be audio or video");
        }

        if (!Filter(Value("direction"), WireNames.TryParse, out CallDirection? direction))
        {
            return (null, "direction must be incoming or outgoing");
        }

        if (!Filter(Value("receiverType"), WireNames.TryParse, out ReceiverType? receiverType))
        {
            return (null, "receiverType must be user or group");
        }

        return Value("missed") switch
        {
            null or "true" or "false" => (query with
            {
                Status = status,
                CallType = callType,
                Direction = direction,
                ReceiverType = receiverType,
                Missed = Value("missed") is { } m ? m == "true" : null,
            }, null),
            _ => (null, "missed must be true or false"),
        };
    }

    /// <summary>An absent filter is null; a present one must be a wire name of its enum.</summary>
    private static bool Filter<T>(string? value, TryParseName<T> parse, out T? result)
        where T : struct
    {
        result = null;
        if (value is null)
        {
            return true;
        }

        if (!parse(value, out var parsed))
        {
            return false;
        }

        result = parsed;
        return true;
    }
}
