using System.Buffers.Text;
using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace CallGrains.Tests.Push;

/// <summary>One push APNs accepted, as it arrived.</summary>
public sealed record ApnsPush(string DeviceToken, IReadOnlyDictionary<string, string> Headers, JsonElement Payload, int PayloadBytes, string Jwt, DateTimeOffset At);

/// <summary>What the emulator answers to the next request instead of accepting it (after it passed the checks).</summary>
public abstract record ApnsAnswer
{
    public static ApnsAnswer Error(int status, string reason, TimeSpan? retryAfter = null) => new Refuse(status, reason, retryAfter);

    public static readonly ApnsAnswer Hang = new HangAnswer();

    public static readonly ApnsAnswer Drop = new DropAnswer();

    public sealed record Refuse(int Status, string Reason, TimeSpan? RetryAfter) : ApnsAnswer;

    public sealed record HangAnswer : ApnsAnswer;

    public sealed record DropAnswer : ApnsAnswer;
}

/// <summary>
/// A stand-in for APNs: a Kestrel server on 127.0.0.1 speaking HTTP/2 only (prior knowledge, as PROTOCOL section 10's
/// <c>http://</c> endpoint) that checks what Apple checks: the provider token (ES256 over the test's key pair,
/// <c>kid</c>, <c>iss</c>, an <c>iat</c> neither older than an hour nor in the future, not replaced within 20 minutes),
/// the device token in the path, the headers and how they fit the payload, the payload's JSON and size. Checked pushes
/// are accepted and recorded unless a scripted answer says otherwise; every refusal of a check is recorded too.
/// </summary>
public sealed class ApnsEmulator : IAsyncDisposable
{
    private static readonly string[] Recorded = ["apns-push-type", "apns-topic", "apns-priority", "apns-expiration", "apns-collapse-id", "apns-id", "content-type"];

    private readonly WebApplication _app;
    private readonly ECDsa _publicKey;
    private readonly string _teamId;
    private readonly string _keyId;
    private readonly string _topic;
    private readonly TimeProvider _time;
    private readonly ConcurrentQueue<ApnsAnswer> _script = new();
    private readonly ConcurrentDictionary<string, ConnectionContext> _open = new();
    private readonly CancellationTokenSource _stopping = new();
    private readonly Lock _tokensLock = new();
    // Provider tokens by connection: APNs wants one token per connection, replaced no more than once every 20 minutes
    // (several servers sharing a key each have their own).
    private readonly Dictionary<string, List<(string Jwt, long Iat)>> _tokens = [];
    private int _connections;
    private int _requests;

    private ApnsEmulator(ECDsa publicKey, string teamId, string keyId, string topic, TimeProvider time)
    {
        _publicKey = publicKey;
        _teamId = teamId;
        _keyId = keyId;
        _topic = topic;
        _time = time;
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders(); builder.Logging.AddProvider(ServerLogs).SetMinimumLevel(LogLevel.Debug).AddFilter("Microsoft.AspNetCore", LogLevel.Debug);
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0, listen =>
        {
            listen.Protocols = HttpProtocols.Http2;
            listen.Use(next => async connection =>
            {
                Interlocked.Increment(ref _connections);
                _open[connection.ConnectionId] = connection;
                try
                {
                    await next(connection);
                }
                finally
                {
                    _open.TryRemove(connection.ConnectionId, out _);
                }
            });
        }));
        _app = builder.Build();
        _app.Run(async context =>
        {
            try
            {
                await HandleAsync(context);
            }
            catch (Exception e)
            {
                Refusals.Enqueue($"threw {e}");
                throw;
            }
        });
    }

    public CapturedLogs ServerLogs { get; } = new();

    public Uri Endpoint { get; private set; } = null!;

    /// <summary>Pushes that passed every check and were answered 200, in arrival order.</summary>
    public ConcurrentQueue<ApnsPush> Accepted { get; } = new();

    /// <summary>Every check a request failed, as "status reason: detail".</summary>
    public ConcurrentQueue<string> Refusals { get; } = new();

    /// <summary>Every provider token presented, in arrival order (repeats included).</summary>
    public ConcurrentQueue<string> JwtsSeen { get; } = new();

    /// <summary>TCP connections opened to the emulator so far.</summary>
    public int Connections => Volatile.Read(ref _connections);

    public int Requests => Volatile.Read(ref _requests);

    /// <summary>Completed when a request starts hanging on a scripted <see cref="ApnsAnswer.Hang"/>.</summary>
    public TaskCompletionSource Hanging { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public static async Task<ApnsEmulator> StartAsync(ECDsa publicKey, string teamId, string keyId, string topic, TimeProvider time)
    {
        var emulator = new ApnsEmulator(publicKey, teamId, keyId, topic, time);
        await emulator._app.StartAsync();
        var address = emulator._app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        emulator.Endpoint = new Uri(address);
        return emulator;
    }

    /// <summary>Answers the next requests that pass the checks with these, in order, then accepts again.</summary>
    public void Script(params ApnsAnswer[] answers)
    {
        foreach (var answer in answers)
        {
            _script.Enqueue(answer);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync();
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await _app.StopAsync(deadline.Token);
        await _app.DisposeAsync();
        _stopping.Dispose();
    }

    private async Task HandleAsync(HttpContext context)
    {
        Interlocked.Increment(ref _requests);
        using var body = new MemoryStream();
        await context.Request.Body.CopyToAsync(body, context.RequestAborted);
        var (jwt, refusal) = Check(context.Request, body.ToArray(), out var payload);
        if (refusal is { } r)
        {
            Refusals.Enqueue($"{r.Status} {r.Reason}: {r.Detail}");
            await AnswerAsync(context, r.Status, r.Reason, null);
            return;
        }

        if (_script.TryDequeue(out var answer))
        {
            switch (answer)
            {
                case ApnsAnswer.Refuse refuse:
                    await AnswerAsync(context, refuse.Status, refuse.Reason, refuse.RetryAfter);
                    return;
                case ApnsAnswer.HangAnswer:
                    Hanging.TrySetResult();
                    using (var linked = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, _stopping.Token))
                    {
                        await Task.Delay(Timeout.Infinite, linked.Token).ContinueWith(_ => { }, TaskScheduler.Default);
                    }

                    context.Abort();
                    return;
                default:
                    _open[context.Connection.Id].Abort(new ConnectionAbortedException("dropped by the test"));
                    return;
            }
        }

        var headers = Recorded.Where(h => context.Request.Headers.ContainsKey(h)).ToDictionary(h => h, h => context.Request.Headers[h].ToString());
        var token = context.Request.Path.Value!["/3/device/".Length..];
        Accepted.Enqueue(new ApnsPush(token, headers, payload, (int)body.Length, jwt!, _time.GetUtcNow()));
        context.Response.Headers["apns-id"] = headers.GetValueOrDefault("apns-id", Guid.NewGuid().ToString("D"));
        context.Response.StatusCode = 200;
    }

    private async Task AnswerAsync(HttpContext context, int status, string reason, TimeSpan? retryAfter)
    {
        context.Response.StatusCode = status;
        if (retryAfter is { } delay)
        {
            context.Response.Headers.RetryAfter = ((int)delay.TotalSeconds).ToString(CultureInfo.InvariantCulture);
        }

        object answer = status == 410
            ? new { reason, timestamp = _time.GetUtcNow().ToUnixTimeMilliseconds() }
            : new { reason };
        await context.Response.WriteAsJsonAsync(answer);
    }

    private (string? Jwt, (int Status, string Reason, string Detail)? Refusal) Check(HttpRequest request, byte[] body, out JsonElement payload)
    {
        payload = default;
        if (request.Method != "POST" || request.Path.Value is not { } path || !path.StartsWith("/3/device/", StringComparison.Ordinal))
        {
            return (null, (405, "MethodNotAllowed", $"{request.Method} {request.Path}"));
        }

        var deviceToken = path["/3/device/".Length..];
        if (deviceToken.Length is < 64 or > 200 || deviceToken.Length % 2 != 0 || !deviceToken.All(char.IsAsciiHexDigit))
        {
            return (null, (400, "BadDeviceToken", "not a hex device token"));
        }

        var authorization = request.Headers.Authorization.ToString();
        if (!authorization.StartsWith("bearer ", StringComparison.OrdinalIgnoreCase))
        {
            return (null, (403, "MissingProviderToken", "no bearer token"));
        }

        var jwt = authorization["bearer ".Length..];
        JwtsSeen.Enqueue(jwt);
        if (CheckJwt(jwt, request.HttpContext.Connection.Id) is { } jwtRefusal)
        {
            return (jwt, jwtRefusal);
        }

        return (jwt, CheckHeaders(request, body, out payload));
    }

    private (int, string, string)? CheckJwt(string jwt, string connectionId)
    {
        var parts = jwt.Split('.');
        if (parts.Length != 3)
        {
            return (403, "InvalidProviderToken", "not a JWS compact serialization");
        }

        try
        {
            using var header = JsonDocument.Parse(Base64Url.DecodeFromChars(parts[0]));
            using var claims = JsonDocument.Parse(Base64Url.DecodeFromChars(parts[1]));
            var signature = Base64Url.DecodeFromChars(parts[2]);
            if (header.RootElement.GetProperty("alg").GetString() != "ES256" || header.RootElement.GetProperty("kid").GetString() != _keyId)
            {
                return (403, "InvalidProviderToken", "alg or kid");
            }

            if (signature.Length != 64 || !_publicKey.VerifyData(Encoding.ASCII.GetBytes($"{parts[0]}.{parts[1]}"), signature, HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation))
            {
                return (403, "InvalidProviderToken", "ES256 signature does not verify");
            }

            if (claims.RootElement.GetProperty("iss").GetString() != _teamId)
            {
                return (403, "InvalidProviderToken", "iss");
            }

            var iat = claims.RootElement.GetProperty("iat").GetInt64();
            var now = _time.GetUtcNow().ToUnixTimeSeconds();
            if (iat > now + 60)
            {
                return (403, "InvalidProviderToken", "iat in the future");
            }

            if (now - iat > 3600)
            {
                return (403, "ExpiredProviderToken", "iat older than an hour");
            }

            lock (_tokensLock)
            {
                var seen = _tokens.TryGetValue(connectionId, out var list) ? list : _tokens[connectionId] = [];
                if (!seen.Exists(t => t.Jwt == jwt))
                {
                    if (seen.Count > 0 && iat - seen[^1].Iat < 20 * 60)
                    {
                        return (429, "TooManyProviderTokenUpdates", "a new token on this connection within 20 minutes of its last");
                    }

                    seen.Add((jwt, iat));
                }
            }

            return null;
        }
        catch (Exception e) when (e is JsonException or FormatException or KeyNotFoundException or InvalidOperationException)
        {
            return (403, "InvalidProviderToken", e.GetType().Name);
        }
    }

    private (int, string, string)? CheckHeaders(HttpRequest request, byte[] body, out JsonElement payload)
    {
        payload = default;
        var headers = request.Headers;
        var topic = headers["apns-topic"].ToString();
        var pushType = headers["apns-push-type"].ToString();
        if (topic.Length == 0)
        {
            return (400, "MissingTopic", "no apns-topic");
        }

        if (topic != _topic && topic != _topic + ".voip")
        {
            return (400, "TopicDisallowed", topic);
        }

        if (pushType is not ("alert" or "background" or "voip") || (pushType == "voip") != topic.EndsWith(".voip", StringComparison.Ordinal))
        {
            return (400, "InvalidPushType", $"{pushType} on {topic}");
        }

        if (headers["apns-priority"].ToString() is not ("10" or "5" or "1") || (pushType == "background") != (headers["apns-priority"] == "5"))
        {
            return (400, "BadPriority", $"{headers["apns-priority"]} for {pushType}");
        }

        if (!Guid.TryParseExact(headers["apns-id"].ToString(), "D", out _))
        {
            return (400, "BadMessageId", headers["apns-id"].ToString());
        }

        if (!long.TryParse(headers["apns-expiration"].ToString(), NumberStyles.None, CultureInfo.InvariantCulture, out _))
        {
            return (400, "BadExpirationDate", headers["apns-expiration"].ToString());
        }

        if (Encoding.UTF8.GetByteCount(headers["apns-collapse-id"].ToString()) > 64)
        {
            return (400, "BadCollapseId", "longer than 64 bytes");
        }

        if (body.Length == 0)
        {
            return (400, "PayloadEmpty", "no body");
        }

        if (body.Length > (pushType == "voip" ? 5120 : 4096))
        {
            return (413, "PayloadTooLarge", $"{body.Length} bytes");
        }

        try
        {
            using var document = JsonDocument.Parse(body);
            payload = document.RootElement.Clone();
        }
        catch (JsonException e)
        {
            return (400, "BadPayload", e.Message);
        }

        return PayloadFitsType(payload, pushType);
    }

    // A background push that could show something, or an alert push with nothing to show, is not what its type says.
    private static (int, string, string)? PayloadFitsType(JsonElement payload, string pushType)
    {
        if (payload.ValueKind != JsonValueKind.Object)
        {
            return (400, "BadPayload", "not an object");
        }

        var aps = payload.TryGetProperty("aps", out var a) ? a : default;
        return pushType switch
        {
            "background" when aps.ValueKind != JsonValueKind.Object
                || !aps.TryGetProperty("content-available", out var ca) || ca.ValueKind != JsonValueKind.Number || ca.GetInt32() != 1
                || aps.TryGetProperty("alert", out _) || aps.TryGetProperty("sound", out _) || aps.TryGetProperty("badge", out _)
                => (400, "InvalidPushType", "background without content-available 1, or with something to show"),
            "alert" when aps.ValueKind != JsonValueKind.Object || !aps.TryGetProperty("alert", out _)
                => (400, "InvalidPushType", "alert without aps.alert"),
            _ => null,
        };
    }
}
