using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using CallGrains.Abstractions;
using Google.Apis.Auth.OAuth2.Responses;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace CallGrains.Grains.Push.Fcm;

/// <summary>
/// Firebase Cloud Messaging, HTTP v1: one <c>messages:send</c> per attempt with an OAuth2 access token from the service
/// account (<see cref="FcmAccessTokens"/>). A 401 costs one new access token and one resend inside the attempt; every
/// other answer is read by <see cref="FcmWire.Answer"/>. The whole attempt is bounded by
/// <see cref="FcmOptions.AttemptTimeoutSeconds"/> on the provider's clock; a timeout, a refused or dropped connection
/// is <see cref="PushOutcome.Retry"/>.
/// </summary>
public sealed class FcmProvider : IPushProvider, IDisposable
{
    public const string ProviderName = "fcm";

    private const int MaxAnswerBytes = 64 * 1024;
    private static readonly PushPlatform[] FcmOnly = [PushPlatform.Fcm];

    private readonly TimeProvider _time;
    private readonly PushMetrics _metrics;
    private readonly ILogger<FcmProvider> _logger;
    private readonly TimeSpan _attemptTimeout;
    private readonly ServiceAccount _account;
    private readonly FcmAccessTokens _tokens;
    private readonly HttpClient _http;
    private readonly Uri _sendUri;
    private readonly Version _version;
    private readonly HttpVersionPolicy _versionPolicy;

    public FcmProvider(IOptions<FcmOptions> options, TimeProvider time, PushMetrics metrics, ILogger<FcmProvider> logger)
    {
        var settings = options.Value;
        _time = time;
        _metrics = metrics;
        _logger = logger;
        _attemptTimeout = TimeSpan.FromSeconds(settings.AttemptTimeoutSeconds);
        _account = ServiceAccount.Read(settings.ServiceAccountPath ?? throw new InvalidOperationException("Push:Fcm:ServiceAccountPath is not set"));
        var projectId = string.IsNullOrWhiteSpace(settings.ProjectId) ? _account.ProjectId : settings.ProjectId;
        _sendUri = new Uri($"{settings.Endpoint.AbsoluteUri.TrimEnd('/')}/v1/projects/{Uri.EscapeDataString(projectId!)}/messages:send");

        // PROTOCOL 10: an http:// endpoint (an emulator) speaks HTTP/1.1; Google's own speaks HTTP/2, which carries
        // many sends on one connection.
        (_version, _versionPolicy) = _sendUri.Scheme == Uri.UriSchemeHttp
            ? (HttpVersion.Version11, HttpVersionPolicy.RequestVersionExact)
            : (HttpVersion.Version20, HttpVersionPolicy.RequestVersionOrLower);
        _http = new HttpClient(CreateHandler(_attemptTimeout))
        {
            Timeout = Timeout.InfiniteTimeSpan,
            MaxResponseContentBufferSize = MaxAnswerBytes,
        };
        _tokens = new FcmAccessTokens(_account, time, () => CreateHandler(_attemptTimeout));
    }

    public IReadOnlyCollection<PushPlatform> Platforms => FcmOnly;

    public string Name => ProviderName;

    public async Task<PushResult> SendOnceAsync(PushMessage message, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        var result = await AttemptAsync(message, cancellationToken);
        _metrics.Attempted(ProviderName, message.Kind, result.Outcome, Stopwatch.GetElapsedTime(started));
        var tokenHash = PushLog.TokenHash(message.DeviceToken);
        switch (result.Outcome)
        {
            case PushOutcome.Sent:
                _logger.Sent(message.Kind, message.PushId, message.SessionId, tokenHash);
                break;
            case PushOutcome.TokenGone:
                _logger.TokenGone(message.Kind, message.PushId, message.SessionId, tokenHash, result.StatusCode, result.Reason);
                break;
            default:
                _logger.NotSent(message.Kind, message.PushId, message.SessionId, tokenHash, result.Outcome, result.StatusCode, result.Reason);
                break;
        }

        return result;
    }

    public void Dispose()
    {
        _http.Dispose();
        _account.Dispose();
    }

    private static SocketsHttpHandler CreateHandler(TimeSpan connectTimeout) => new()
    {
        ConnectTimeout = connectTimeout,
        PooledConnectionLifetime = TimeSpan.FromMinutes(5),
        EnableMultipleHttp2Connections = true,
    };

    private async Task<PushResult> AttemptAsync(PushMessage message, CancellationToken cancellationToken)
    {
        var remaining = message.ExpiresAt - _time.GetUtcNow();
        if (remaining <= TimeSpan.Zero)
        {
            return new PushResult(PushOutcome.Failed, Reason: "Expired");
        }

        var body = FcmWire.Body(message, remaining);
        using var timeout = new CancellationTokenSource(_attemptTimeout, _time);
        using var attempt = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
        try
        {
            for (var resent = false; ; resent = true)
            {
                var accessToken = await _tokens.GetAsync(attempt.Token);
                using var response = await PostAsync(body, accessToken, attempt.Token);
                if (response.IsSuccessStatusCode)
                {
                    return PushResult.Sent;
                }

                var answer = await response.Content.ReadAsStringAsync(attempt.Token);
                if (response.StatusCode == HttpStatusCode.Unauthorized && !resent && FcmWire.Error.Parse(answer).ErrorCode != "THIRD_PARTY_AUTH_ERROR")
                {
                    _tokens.Invalidate(accessToken);
                    _logger.AccessTokenRefused(message.PushId);
                    continue;
                }

                return FcmWire.Answer(response.StatusCode, answer, RetryAfter(response.Headers.RetryAfter));
            }
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            return new PushResult(PushOutcome.Retry, Reason: "Timeout");
        }
        catch (HttpRequestException e)
        {
            return new PushResult(PushOutcome.Retry, (int?)e.StatusCode, $"Connection: {e.HttpRequestError}");
        }
        catch (TokenResponseException e)
        {
            // The token endpoint refused the grant: busy (429, 5xx) is worth another try, anything else (a revoked key,
            // a deleted account) will not mend itself.
            var status = (int?)e.StatusCode;
            var reason = $"Token endpoint: {e.Error?.Error ?? "error"}";
            _logger.NoAccessToken(message.PushId, message.SessionId, reason);
            return status is 429 or >= 500 or null
                ? new PushResult(PushOutcome.Retry, status, reason)
                : new PushResult(PushOutcome.Failed, status, reason);
        }
        catch (InvalidOperationException e) when (!cancellationToken.IsCancellationRequested)
        {
            // Google.Apis.Auth gave up on a token refresh (its own time-outs).
            _logger.NoAccessToken(message.PushId, message.SessionId, e.GetType().Name);
            return new PushResult(PushOutcome.Retry, Reason: "Token endpoint: no answer");
        }
    }

    private async Task<HttpResponseMessage> PostAsync(byte[] body, string accessToken, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, _sendUri)
        {
            Version = _version,
            VersionPolicy = _versionPolicy,
            Content = new ByteArrayContent(body),
        };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json") { CharSet = "utf-8" };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", accessToken);
        return await _http.SendAsync(request, cancellationToken);
    }

    private TimeSpan? RetryAfter(RetryConditionHeaderValue? header) => header switch
    {
        { Delta: { } delta } => delta,
        { Date: { } date } => date > _time.GetUtcNow() ? date - _time.GetUtcNow() : TimeSpan.Zero,
        _ => null,
    };
}
