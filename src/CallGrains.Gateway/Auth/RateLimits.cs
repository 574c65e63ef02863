using System.Collections.Concurrent;
using CallGrains.Abstractions;
using CallGrains.Gateway.Rest;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace CallGrains.Gateway.Auth;

/// <summary>A token bucket: <c>burst</c> requests at once, refilled at <c>perSecond</c>.</summary>
public sealed class TokenBucket(int burst, int perSecond, TimeProvider time)
{
    private readonly Lock _lock = new();
    private double _tokens = burst;
    private long _last = time.GetTimestamp();

    public bool TryTake()
    {
        lock (_lock)
        {
            Refill();
            if (_tokens < 1)
            {
                return false;
            }

            _tokens -= 1;
            return true;
        }
    }

    /// <summary>Refilled to the brim: forgetting this bucket now changes nothing for its owner.</summary>
    public bool IsFull
    {
        get
        {
            lock (_lock)
            {
                Refill();
                return _tokens >= burst;
            }
        }
    }

    private void Refill()
    {
        var now = time.GetTimestamp();
        _tokens = Math.Min(burst, _tokens + (time.GetElapsedTime(_last, now).TotalSeconds * perSecond));
        _last = now;
    }
}

/// <summary>
/// The HTTP rate limit (PROTOCOL section 8: 429): a token bucket per user for requests with a valid auth token,
/// per remote address for requests with the admin key (<c>Gateway:AdminBurst</c>) and for requests with no valid
/// credentials. Buckets that have refilled are forgotten by the gateway sweep, so the partitions held are those
/// active within the last <c>RestBurst / RestRequestsPerSecond</c> (or admin equivalent) plus one sweep interval.
/// </summary>
public sealed class RestRateLimit(IOptions<GatewayOptions> options, Tokens tokens, [FromKeyedServices(GatewayHosting.ClockKey)] TimeProvider clock)
{
    private readonly ConcurrentDictionary<string, TokenBucket> _buckets = new();
    private readonly GatewayOptions _options = options.Value;

    /// <summary>Probes and scrapes are never limited: an orchestrator must always see the node.</summary>
    public static bool IsExempt(PathString path) =>
        path.Equals("/healthz", StringComparison.OrdinalIgnoreCase)
        || path.Equals("/alive", StringComparison.OrdinalIgnoreCase)
        || path.Equals("/metrics", StringComparison.OrdinalIgnoreCase);

    public bool TryTake(HttpContext http)
    {
        var (key, burst, perSecond) = Partition(http);
        return Take(key, burst, perSecond);
    }

    private bool Take(string key, int burst, int perSecond) =>
        _buckets.GetOrAdd(key, static (_, s) => new TokenBucket(s.burst, s.perSecond, s.clock), (burst, perSecond, clock)).TryTake();

    private static string UserPartition(AuthClaims claims) => $"user:{claims.Uid}:{claims.Generation}";

    /// <summary>Takes from a user's bucket, for a request whose token is already verified (the direct upgrade).</summary>
    public bool TryTake(AuthClaims claims) => Take(UserPartition(claims), _options.RestBurst, _options.RestRequestsPerSecond);

    /// <summary>Drops the buckets that are full again; a request racing with the drop just starts a new full one.</summary>
    public void ForgetIdle()
    {
        foreach (var (key, bucket) in _buckets)
        {
            if (bucket.IsFull)
            {
                _buckets.TryRemove(new KeyValuePair<string, TokenBucket>(key, bucket));
            }
        }
    }

    private (string Key, int Burst, int PerSecond) Partition(HttpContext http)
    {
        // The signature is checked (cheap, no grain call), so nobody can spend another user's budget by naming them;
        // and the bucket is the token generation's, so a revoked token (still well signed) spends only its own.
        if (tokens.VerifyAuthToken(Tokens.RequestToken(http.Request)) is { } claims)
        {
            return (UserPartition(claims), _options.RestBurst, _options.RestRequestsPerSecond);
        }

        var address = http.Connection.RemoteIpAddress?.ToString() ?? "unknown";
        return tokens.IsAdminKey(http.Request.Headers["X-Api-Key"].FirstOrDefault())
            ? ($"admin:{address}", _options.AdminBurst, _options.AdminRequestsPerSecond)
            : ($"address:{address}", _options.RestBurst, _options.RestRequestsPerSecond);
    }
}

public static class RestRateLimitMiddleware
{
    /// <summary>Answers 429 with the JSON error body when the caller's bucket is empty; probes and scrapes pass.</summary>
    public static IApplicationBuilder UseRestRateLimit(this IApplicationBuilder app) => app.Use((http, next) =>
    {
        if (RestRateLimit.IsExempt(http.Request.Path) || http.RequestServices.GetRequiredService<RestRateLimit>().TryTake(http))
        {
            return next(http);
        }

        http.Response.Headers.RetryAfter = "1";
        return RestResults.WriteError(http, StatusCodes.Status429TooManyRequests, CallErrorCode.TooManyRequests, "slow down: too many requests; retry in a second");
    });
}
