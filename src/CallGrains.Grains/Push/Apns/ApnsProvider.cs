using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using CallGrains.Abstractions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace CallGrains.Grains.Push.Apns;

/// <summary>
/// Sends pushes to APNs over HTTP/2 with a provider token (PROTOCOL section 10, docs/push.md "APNs"). One
/// <see cref="HttpClient"/> over one <see cref="SocketsHttpHandler"/> for the provider's life: APNs wants long-lived
/// connections, each carrying many concurrent streams, and more connections only when one is full.
/// </summary>
public sealed partial class ApnsProvider : IPushProvider, IDisposable
{
    public const string ProviderName = "apns";

    private static readonly PushPlatform[] ApnsPlatforms = [PushPlatform.ApnsVoip, PushPlatform.Apns];

    private readonly ApnsOptions _options;
    private readonly TimeProvider _time;
    private readonly PushMetrics _metrics;
    private readonly ILogger<ApnsProvider> _logger;
    private readonly HttpClient _http;

    public ApnsProvider(IOptions<ApnsOptions> options, TimeProvider time, PushMetrics metrics, ILogger<ApnsProvider> logger)
    {
        _options = options.Value;
        if (!_options.IsConfigured)
        {
            throw new InvalidOperationException("Push:Apns is not configured");
        }

        _time = time;
        _metrics = metrics;
        _logger = logger;
        Token = new ApnsProviderToken(_options.TeamId!, _options.KeyId!, _options.PrivateKeyPath!, time);
        Token.Minted += issuedAt => LogTokenMinted(_logger, _options.KeyId!, issuedAt);
        _http = new HttpClient(
            new SocketsHttpHandler
            {
                EnableMultipleHttp2Connections = true,
                UseProxy = false,
                PooledConnectionLifetime = TimeSpan.FromHours(1),
                PooledConnectionIdleTimeout = TimeSpan.FromMinutes(10),
                ConnectTimeout = _options.AttemptTimeout,

                // A connection that died without a FIN is found by pings instead of by the next push's timeout.
                KeepAlivePingDelay = TimeSpan.FromMinutes(1),
                KeepAlivePingTimeout = TimeSpan.FromSeconds(20),
                KeepAlivePingPolicy = HttpKeepAlivePingPolicy.Always,
            })
        {
            BaseAddress = _options.Endpoint,

            // The attempt timeout runs on the injected clock instead (tests drive it).
            Timeout = Timeout.InfiniteTimeSpan,
            MaxResponseContentBufferSize = 64 * 1024,
        };
    }

    public IReadOnlyCollection<PushPlatform> Platforms => ApnsPlatforms;

    public string Name => ProviderName;

    /// <summary>The provider token in use (tests watch it being minted).</summary>
    public ApnsProviderToken Token { get; }

    public async Task<PushResult> SendOnceAsync(PushMessage message, CancellationToken cancellationToken)
    {
        var started = _time.GetTimestamp();
        var result = await AttemptAsync(message, cancellationToken);
        _metrics.Attempted(ProviderName, message.Kind, result.Outcome, _time.GetElapsedTime(started));
        var tokenHash = PushLog.TokenHash(message.DeviceToken);
        switch (result.Outcome)
        {
            case PushOutcome.Sent:
                LogSent(_logger, message.PushId, message.SessionId, message.Kind, tokenHash);
                break;
            case PushOutcome.TokenGone:
                LogTokenGone(_logger, message.PushId, message.SessionId, tokenHash, result.StatusCode, result.Reason);
                break;
            default:
                LogNotSent(_logger, message.PushId, message.SessionId, message.Kind, tokenHash, result.Outcome, result.StatusCode, result.Reason);
                break;
        }

        return result;
    }

    public void Dispose()
    {
        _http.Dispose();
        Token.Dispose();
    }

    private async Task<PushResult> AttemptAsync(PushMessage message, CancellationToken cancellationToken)
    {
        if (message.Platform == PushPlatform.ApnsVoip && message.Kind == PushKind.Missed)
        {
            // A VoIP push must be reported to CallKit as a call: a missed-call alert needs the device's apns token.
            return new PushResult(PushOutcome.Failed, Reason: "VoipTokenTakesNoAlerts");
        }

        ApnsWire wire;
        try
        {
            wire = ApnsWire.For(message, _options.Topic!);
        }
        catch (JsonException)
        {
            return new PushResult(PushOutcome.Failed, Reason: "CallJsonInvalid");
        }

        using var timeout = new CancellationTokenSource(_options.AttemptTimeout, _time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
        try
        {
            var jwt = Token.Current;
            var result = await PostAsync(message, wire, jwt, linked.Token);
            if (result is not { StatusCode: 403, Reason: "ExpiredProviderToken" or "InvalidProviderToken" })
            {
                return result;
            }

            // Once per attempt: a fresh token refused again is a configuration problem (team, key id, key), not age.
            var fresh = Token.Replace(jwt, out var wait);
            if (fresh is null)
            {
                return result.Reason == "ExpiredProviderToken"
                    ? result with { Outcome = PushOutcome.Retry, RetryAfter = wait }
                    : result;
            }

            return await PostAsync(message, wire, fresh, linked.Token);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return new PushResult(PushOutcome.Retry, Reason: "Timeout");
        }
        catch (HttpRequestException e)
        {
            return new PushResult(PushOutcome.Retry, Reason: e.HttpRequestError.ToString());
        }
        catch (IOException)
        {
            return new PushResult(PushOutcome.Retry, Reason: "ConnectionLost");
        }
    }

    private async Task<PushResult> PostAsync(PushMessage message, ApnsWire wire, string jwt, CancellationToken cancellationToken)
    {
        // HTTP/2 exactly: over TLS (ALPN h2) for https, prior knowledge for an http:// emulator; never a fallback to 1.1.
        using var request = new HttpRequestMessage(HttpMethod.Post, "/3/device/" + Uri.EscapeDataString(message.DeviceToken))
        {
            Content = new ByteArrayContent(wire.Payload),

            // A request made by hand does not take the client's defaults: without these it would go out as HTTP/1.1.
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
        };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        request.Headers.Authorization = new AuthenticationHeaderValue("bearer", jwt);
        request.Headers.TryAddWithoutValidation("apns-push-type", wire.PushType);
        request.Headers.TryAddWithoutValidation("apns-topic", wire.Topic);
        request.Headers.TryAddWithoutValidation("apns-priority", wire.Priority.ToString(System.Globalization.CultureInfo.InvariantCulture));
        request.Headers.TryAddWithoutValidation("apns-expiration", wire.Expiration.ToString(System.Globalization.CultureInfo.InvariantCulture));
        request.Headers.TryAddWithoutValidation("apns-collapse-id", wire.CollapseId);
        request.Headers.TryAddWithoutValidation("apns-id", message.PushId.ToString("D"));

        using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseContentRead, cancellationToken);
        var status = (int)response.StatusCode;
        if (response.StatusCode == HttpStatusCode.OK)
        {
            return PushResult.Sent;
        }

        var reason = await ReadReasonAsync(response, cancellationToken);
        return status switch
        {
            410 => new PushResult(PushOutcome.TokenGone, status, reason),
            // Not DeviceTokenNotForTopic: that is this deployment's Push:Apns:Topic (or a token of another app), and
            // removing tokens for it would silence every iPhone until each app registers again once the setting is fixed.
            400 when reason is "BadDeviceToken" => new PushResult(PushOutcome.TokenGone, status, reason),
            429 or >= 500 => new PushResult(PushOutcome.Retry, status, reason, RetryAfter(response)),
            _ => new PushResult(PushOutcome.Failed, status, reason),
        };
    }

    private static async Task<string?> ReadReasonAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        try
        {
            using var body = await JsonDocument.ParseAsync(await response.Content.ReadAsStreamAsync(cancellationToken), cancellationToken: cancellationToken);
            return body.RootElement.ValueKind == JsonValueKind.Object
                && body.RootElement.TryGetProperty("reason", out var reason)
                && reason.ValueKind == JsonValueKind.String
                ? reason.GetString()
                : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private TimeSpan? RetryAfter(HttpResponseMessage response)
    {
        var header = response.Headers.RetryAfter;
        var delay = header?.Delta ?? (header?.Date is { } date ? date - _time.GetUtcNow() : null);
        return delay is { } d ? (d > TimeSpan.Zero ? d : TimeSpan.Zero) : null;
    }

    [LoggerMessage(2001, LogLevel.Information, "APNs provider token minted (kid {KeyId}, iat {IssuedAt})")]
    private static partial void LogTokenMinted(ILogger logger, string keyId, DateTimeOffset issuedAt);

    [LoggerMessage(2002, LogLevel.Debug, "APNs push {PushId} of call {SessionId} ({Kind}) to token {TokenHash}: sent")]
    private static partial void LogSent(ILogger logger, Guid pushId, string sessionId, PushKind kind, string tokenHash);

    [LoggerMessage(2003, LogLevel.Information, "APNs push {PushId} of call {SessionId}: token {TokenHash} is gone ({StatusCode} {Reason})")]
    private static partial void LogTokenGone(ILogger logger, Guid pushId, string sessionId, string tokenHash, int? statusCode, string? reason);

    [LoggerMessage(2004, LogLevel.Warning, "APNs push {PushId} of call {SessionId} ({Kind}) to token {TokenHash}: {Outcome} ({StatusCode} {Reason})")]
    private static partial void LogNotSent(ILogger logger, Guid pushId, string sessionId, PushKind kind, string tokenHash, PushOutcome outcome, int? statusCode, string? reason);
}
