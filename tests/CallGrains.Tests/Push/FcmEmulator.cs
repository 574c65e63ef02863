using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace CallGrains.Tests.Push;

/// <summary>What the emulator answers to the next <c>messages:send</c> instead of accepting it.</summary>
public enum FcmAnswer
{
    Unregistered,
    InvalidToken,
    InvalidArgument,
    Unauthorized,
    ThirdPartyAuthError,
    SenderIdMismatch,
    TooManyRequests,
    Internal,
    Unavailable,
    Hang,
    Drop,
}

/// <summary>
/// Google's OAuth2 token endpoint and FCM HTTP v1 in one real Kestrel server on 127.0.0.1 (HTTP/1.1, PROTOCOL 10),
/// holding the provider to what Google checks: the JWT-bearer grant's RS256 signature against the key pair the test
/// made, its <c>iss</c>, <c>aud</c>, <c>scope</c> and lifetime; on each send, a bearer it issued and that has not
/// expired, the project, and the message's shape. Anything wrong is answered 400/401 and written to
/// <see cref="Violations"/>. Scripted answers (<see cref="Enqueue"/>) stand for each FCM error, a hang or a drop.
/// </summary>
public sealed partial class FcmEmulator : IAsyncDisposable
{
    public const string ProjectId = "callgrains-test";
    public const string ClientEmail = "push@callgrains-test.iam.gserviceaccount.com";
    public const string KeyId = "0123456789abcdef";

    private readonly WebApplication _app;
    private readonly TimeProvider _time;
    private readonly RSA _key = RSA.Create(2048);
    private readonly ConcurrentDictionary<string, DateTimeOffset> _issued = new();
    private readonly ConcurrentQueue<FcmAnswer> _script = new();
    private readonly ConcurrentQueue<JsonObject> _accepted = new();
    private readonly ConcurrentQueue<string> _bearers = new();
    private readonly ConcurrentQueue<string> _violations = new();
    private readonly SemaphoreSlim _sends = new(0);
    private int _grants;
    private int _requests;

    private FcmEmulator(WebApplication app, TimeProvider time)
    {
        _app = app;
        _time = time;
    }

    public Uri Endpoint { get; private set; } = null!;

    public Uri TokenUri => new(Endpoint, "/token");

    public string ServiceAccountPath { get; private set; } = null!;

    /// <summary>The private key as the service account file holds it (for the test that no log line carries it).</summary>
    public string PrivateKeyPem => _key.ExportPkcs8PrivateKeyPem();

    /// <summary>The <c>expires_in</c> of the access tokens it issues.</summary>
    public TimeSpan AccessTokenLifetime { get; set; } = TimeSpan.FromHours(1);

    public int RetryAfterSeconds { get; set; } = 7;

    public int Grants => Volatile.Read(ref _grants);

    /// <summary><c>messages:send</c> requests received, whatever was answered.</summary>
    public int Requests => Volatile.Read(ref _requests);

    public IReadOnlyList<JsonObject> Accepted => [.. _accepted];

    /// <summary>The bearer of each accepted message, in order.</summary>
    public IReadOnlyList<string> AcceptedBearers => [.. _bearers];

    public IReadOnlyCollection<string> IssuedTokens => [.. _issued.Keys];

    public IReadOnlyList<string> Violations => [.. _violations];

    public static async Task<FcmEmulator> StartAsync(TimeProvider time)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0, listen => listen.Protocols = HttpProtocols.Http1));
        var app = builder.Build();
        var emulator = new FcmEmulator(app, time);
        app.Run(emulator.HandleAsync);
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        emulator.Endpoint = new Uri(address);
        emulator.ServiceAccountPath = emulator.WriteServiceAccount();
        return emulator;
    }

    public void Enqueue(params FcmAnswer[] answers)
    {
        foreach (var answer in answers)
        {
            _script.Enqueue(answer);
        }
    }

    /// <summary>Waits (bounded) until <paramref name="count"/> sends in all have arrived.</summary>
    public async Task WaitForRequestsAsync(int count)
    {
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (Requests < count)
        {
            await _sends.WaitAsync(deadline.Token);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync(CancellationToken.None);
        await _app.DisposeAsync();
        File.Delete(ServiceAccountPath);
        _key.Dispose();
    }

    private string WriteServiceAccount()
    {
        var path = Path.Combine(Path.GetTempPath(), $"fcm-sa-{Guid.NewGuid():N}.json");
        var json = new JsonObject
        {
            ["type"] = "service_account",
            ["project_id"] = ProjectId,
            ["private_key_id"] = KeyId,
            ["private_key"] = PrivateKeyPem,
            ["client_email"] = ClientEmail,
            ["client_id"] = "1234567890",
            ["auth_uri"] = "https://accounts.google.com/o/oauth2/auth",
            ["token_uri"] = TokenUri.AbsoluteUri,
        };
        File.WriteAllText(path, json.ToJsonString());
        return path;
    }

    private Task HandleAsync(HttpContext context)
    {
        var path = context.Request.Path.Value ?? "";
        if (context.Request.Method == "POST" && path == "/token")
        {
            return GrantAsync(context);
        }

        if (context.Request.Method == "POST" && SendPath().Match(path) is { Success: true } send)
        {
            return SendAsync(context, send.Groups[1].Value);
        }

        context.Response.StatusCode = 404;
        return Task.CompletedTask;
    }

    private async Task GrantAsync(HttpContext context)
    {
        var form = await context.Request.ReadFormAsync();
        var problem = form["grant_type"] != "urn:ietf:params:oauth:grant-type:jwt-bearer"
            ? $"grant_type {form["grant_type"]}"
            : CheckAssertion(form["assertion"].ToString());
        if (problem is not null)
        {
            _violations.Enqueue($"token: {problem}");
            context.Response.StatusCode = 400;
            await context.Response.WriteAsJsonAsync(new { error = "invalid_grant", error_description = problem });
            return;
        }

        Interlocked.Increment(ref _grants);
        var accessToken = "ya29.emulated-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
        _issued[accessToken] = _time.GetUtcNow() + AccessTokenLifetime;
        await context.Response.WriteAsJsonAsync(new { access_token = accessToken, expires_in = (long)AccessTokenLifetime.TotalSeconds, token_type = "Bearer" });
    }

    private string? CheckAssertion(string assertion)
    {
        var parts = assertion.Split('.');
        if (parts.Length != 3)
        {
            return "assertion is not a JWS";
        }

        if (!_key.VerifyData(Encoding.ASCII.GetBytes(parts[0] + "." + parts[1]), Base64Url(parts[2]), HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1))
        {
            return "RS256 signature does not verify against the service account's public key";
        }

        using var header = JsonDocument.Parse(Base64Url(parts[0]));
        using var claims = JsonDocument.Parse(Base64Url(parts[1]));
        var h = header.RootElement;
        var c = claims.RootElement;
        var now = _time.GetUtcNow().ToUnixTimeSeconds();
        var iat = c.TryGetProperty("iat", out var i) ? i.GetInt64() : -1;
        var exp = c.TryGetProperty("exp", out var e) ? e.GetInt64() : -1;
        var scope = c.TryGetProperty("scope", out var s) ? s.GetString() ?? "" : "";
        return (Text(h, "alg"), Text(h, "kid"), Text(c, "iss"), Text(c, "aud")) switch
        {
            (not "RS256", _, _, _) => "alg is not RS256",
            (_, not KeyId, _, _) => "kid is not the private_key_id",
            (_, _, not ClientEmail, _) => "iss is not the client_email",
            var (_, _, _, aud) when aud != TokenUri.AbsoluteUri => $"aud {aud} is not the token_uri",
            _ when !scope.Split(' ').Contains("https://www.googleapis.com/auth/firebase.messaging") => $"scope '{scope}' lacks firebase.messaging",
            _ when exp <= iat || exp - iat > 3600 => $"lifetime {exp - iat} s",
            _ when Math.Abs(iat - now) > 300 => "iat is not now",
            _ => null,
        };
    }

    private async Task SendAsync(HttpContext context, string project)
    {
        Interlocked.Increment(ref _requests);
        _sends.Release();
        var bearer = context.Request.Headers.Authorization.ToString() is var auth && auth.StartsWith("Bearer ", StringComparison.Ordinal) ? auth[7..] : "";
        if (!_issued.TryGetValue(bearer, out var expires) || expires <= _time.GetUtcNow())
        {
            _violations.Enqueue("send: a bearer the emulator did not issue, or expired");
            await ErrorAsync(context, 401, "UNAUTHENTICATED", "Request had invalid authentication credentials.");
            return;
        }

        if (project != ProjectId)
        {
            _violations.Enqueue($"send: project {project}");
            await ErrorAsync(context, 404, "NOT_FOUND", "Requested entity was not found.");
            return;
        }

        var body = await JsonNode.ParseAsync(context.Request.Body);
        if (CheckMessage(body) is { } problem)
        {
            _violations.Enqueue($"send: {problem}");
            await ErrorAsync(context, 400, "INVALID_ARGUMENT", problem);
            return;
        }

        if (_script.TryDequeue(out var answer))
        {
            await AnswerAsync(context, answer, bearer);
            return;
        }

        _accepted.Enqueue(body!["message"]!.AsObject());
        _bearers.Enqueue(bearer);
        await context.Response.WriteAsJsonAsync(new { name = $"projects/{ProjectId}/messages/{Guid.NewGuid():N}" });
    }

    private static string? CheckMessage(JsonNode? body)
    {
        if (body?["message"] is not JsonObject message)
        {
            return "no message";
        }

        var targets = new[] { "token", "topic", "condition" }.Count(message.ContainsKey);
        if (targets != 1 || message["token"]?.GetValueKind() != JsonValueKind.String)
        {
            return "not exactly one target, a token";
        }

        if (message["data"] is not JsonObject data || data.Any(pair => pair.Value?.GetValueKind() != JsonValueKind.String))
        {
            return "data values must all be strings";
        }

        // FCM's 4,096-byte limit counts the data's keys and values and the notification's, plus ~45 bytes of its own and 6 a key.
        var notification = message["notification"] as JsonObject ?? [];
        var pairs = data.Concat(notification).ToArray();
        var size = 45 + (6 * Math.Max(0, pairs.Length - 1)) + pairs.Sum(p => Encoding.UTF8.GetByteCount(p.Key) + Encoding.UTF8.GetByteCount((string?)p.Value ?? ""));
        if (size > 4096)
        {
            return $"message is too big ({size} bytes counted)";
        }

        if (message["android"] is not JsonObject android || (string?)android["priority"] != "high")
        {
            return "android.priority is not high";
        }

        return android["ttl"] is JsonValue ttl && ttl.GetValueKind() == JsonValueKind.String && TtlFormat().IsMatch((string)ttl!)
            ? null
            : "android.ttl is not a duration such as \"30s\"";
    }

    private async Task AnswerAsync(HttpContext context, FcmAnswer answer, string bearer)
    {
        switch (answer)
        {
            case FcmAnswer.Unregistered:
                await ErrorAsync(context, 404, "NOT_FOUND", "Requested entity was not found.", "UNREGISTERED");
                break;
            case FcmAnswer.InvalidToken:
                await ErrorAsync(context, 400, "INVALID_ARGUMENT", "The registration token is not a valid FCM registration token", "INVALID_ARGUMENT");
                break;
            case FcmAnswer.InvalidArgument:
                context.Response.StatusCode = 400;
                await context.Response.WriteAsync("""
                    {"error":{"code":400,"message":"Invalid value at 'message.data[0].value' (TYPE_STRING), 12","status":"INVALID_ARGUMENT",
                     "details":[{"@type":"type.googleapis.com/google.rpc.BadRequest","fieldViolations":[{"field":"message.data[0].value","description":"Invalid value"}]}]}}
                    """);
                break;
            case FcmAnswer.Unauthorized:
                // As Google does for a revoked token: it stays refused.
                _issued.TryRemove(bearer, out _);
                await ErrorAsync(context, 401, "UNAUTHENTICATED", "Request had invalid authentication credentials.");
                break;
            case FcmAnswer.ThirdPartyAuthError:
                await ErrorAsync(context, 401, "UNAUTHENTICATED", "Auth error from APNS or Web Push Service", "THIRD_PARTY_AUTH_ERROR");
                break;
            case FcmAnswer.SenderIdMismatch:
                await ErrorAsync(context, 403, "PERMISSION_DENIED", "SenderId mismatch", "SENDER_ID_MISMATCH");
                break;
            case FcmAnswer.TooManyRequests:
                context.Response.Headers.RetryAfter = RetryAfterSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
                await ErrorAsync(context, 429, "RESOURCE_EXHAUSTED", "Quota exceeded.", "QUOTA_EXCEEDED");
                break;
            case FcmAnswer.Internal:
                await ErrorAsync(context, 500, "INTERNAL", "Internal error encountered.", "INTERNAL");
                break;
            case FcmAnswer.Unavailable:
                await ErrorAsync(context, 503, "UNAVAILABLE", "The service is currently unavailable.", "UNAVAILABLE");
                break;
            case FcmAnswer.Hang:
                try
                {
                    await Task.Delay(TimeSpan.FromMinutes(2), context.RequestAborted);
                }
                catch (OperationCanceledException)
                {
                }

                break;
            case FcmAnswer.Drop:
                context.Abort();
                break;
        }
    }

    private static async Task ErrorAsync(HttpContext context, int code, string status, string message, string? errorCode = null)
    {
        context.Response.StatusCode = code;
        var error = new JsonObject { ["code"] = code, ["message"] = message, ["status"] = status };
        if (errorCode is not null)
        {
            error["details"] = new JsonArray(new JsonObject { ["@type"] = "type.googleapis.com/google.firebase.fcm.v1.FcmError", ["errorCode"] = errorCode });
        }

        context.Response.ContentType = "application/json; charset=UTF-8";
        await context.Response.WriteAsync(new JsonObject { ["error"] = error }.ToJsonString());
    }

    private static string? Text(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    private static byte[] Base64Url(string text) => Convert.FromBase64String(text.Replace('-', '+').Replace('_', '/').PadRight(text.Length + ((4 - (text.Length % 4)) % 4), '='));

    [GeneratedRegex(@"^/v1/projects/([^/]+)/messages:send$")]
    private static partial Regex SendPath();

    [GeneratedRegex(@"^\d+(\.\d+)?s$")]
    private static partial Regex TtlFormat();
}
