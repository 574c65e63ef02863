using System.Collections.Immutable;
using System.Diagnostics;
using System.Net;
using System.Text;
using CallGrains.Abstractions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using StandardWebhooks;

namespace CallGrains.Grains.Webhooks;

/// <summary>
/// Delivers one endpoint's events (PROTOCOL section 11), one activation per endpoint in the cluster: takes what the
/// silos' dispatchers enqueue into the endpoint's queue (<see cref="IWebhookOutbox"/>), posts each delivery signed as
/// Standard Webhooks with a fresh timestamp and signature per attempt, a call's events one after another in the order
/// they were queued and different calls side by side (<see cref="WebhookOptions.MaxConcurrentPerEndpoint"/>), retries
/// on the schedule (5 s, 30 s, 2 min, 10 min, 30 min, then hourly, for <see cref="WebhookOptions.MaxAttemptAge"/>), and
/// disables the endpoint on 410 Gone. Reentrant, so enqueues and reads are not held up by a slow receiver; one round
/// of sending runs at a time. Calls nothing but the registry, which calls back only <see cref="Forget"/>, never waiting on this.
/// </summary>
[Orleans.Concurrency.Reentrant]
public sealed partial class WebhookDeliveryGrain(
    IWebhookOutbox outbox,
    IHttpClientFactory http,
    IOptions<WebhookOptions> options,
    WebhookMetrics metrics,
    TimeProvider time,
    ILogger<WebhookDeliveryGrain> logger) : Grain, IWebhookDeliveryGrain
{
    /// <summary>The named client deliveries use.</summary>
    public const string HttpClientName = "callgrains-webhooks";

    /// <summary>Waits between attempts: after the first failure 5 s, then 30 s, 2 min, 10 min, 30 min, then every hour.</summary>
    public static readonly ImmutableArray<TimeSpan> Schedule =
        [TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(30), TimeSpan.FromMinutes(2), TimeSpan.FromMinutes(10), TimeSpan.FromMinutes(30), TimeSpan.FromHours(1)];

    // Pending deliveries read per round: enough to find the heads of many calls.
    private const int ReadPerRound = 2_000;

    private IGrainTimer? _timer;
    private readonly HashSet<string> _sending = [];
    private bool _running;
    private bool _again;
    private WebhookEndpoint? _endpoint;
    private DateTimeOffset _endpointReadAt;

    private string EndpointId => this.GetPrimaryKeyString();

    public async Task Enqueue(ImmutableArray<WebhookMessage> messages)
    {
        var added = await outbox.AppendAsync(EndpointId, messages, options.Value.MaxPendingPerEndpoint, time.GetUtcNow());
        if (added > 0)
        {
            await UpdateBacklogAsync();
            Kick();
        }
    }

    public Task Wake()
    {
        Kick();
        return Task.CompletedTask;
    }

    public async Task Forget()
    {
        _timer?.Dispose();
        _timer = null;
        await outbox.DeleteAsync(EndpointId);
        metrics.Backlog(EndpointId, null);
        this.DeactivateOnIdle();
    }

    public async Task<ImmutableArray<WebhookDelivery>> Deliveries(WebhookDeliveryStatus? status, int limit) =>
        [.. await outbox.DeliveriesAsync(EndpointId, status, Math.Clamp(limit, 1, 1000))];

    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        metrics.Backlog(EndpointId, null);
        return Task.CompletedTask;
    }

    /// <summary>Runs a round now (or right after the one running).</summary>
    private void Kick() => Arm(TimeSpan.Zero);

    private void Arm(TimeSpan due)
    {
        _timer?.Dispose();
        _timer = this.RegisterGrainTimer(RoundAsync, new GrainTimerCreationOptions(due, Timeout.InfiniteTimeSpan) { KeepAlive = true, Interleave = true });
    }

    private async Task RoundAsync(CancellationToken cancellationToken)
    {
        if (_running)
        {
            _again = true;
            return;
        }

        _running = true;
        try
        {
            DateTimeOffset? next;
            do
            {
                _again = false;
                next = await LaunchDueAsync();
            }
            while (_again);

            if (next is { } at)
            {
                // Woken at the next due retry (or when a send finishes); every silo's sweep also wakes the endpoint.
                var wait = at - time.GetUtcNow();
                Arm(wait < TimeSpan.Zero ? TimeSpan.Zero : wait < TimeSpan.FromHours(1) ? wait : TimeSpan.FromHours(1));
            }
        }
        catch (Exception ex)
        {
            LogRoundFailed(ex, EndpointId);
            Arm(TimeSpan.FromSeconds(5));
        }
        finally
        {
            _running = false;
        }
    }

    /// <summary>
    /// Starts the deliveries due now: the first waiting event of each call with nothing on its way, up to
    /// <see cref="WebhookOptions.MaxConcurrentPerEndpoint"/> in flight; each send that finishes starts the next round,
    /// so a receiver that hangs on one call holds up that call only. Returns when the next waiting one is due (null: none).
    /// </summary>
    private async Task<DateTimeOffset?> LaunchDueAsync()
    {
        if (await EndpointAsync() is not { } endpoint)
        {
            await outbox.DeleteAsync(EndpointId);
            return null;
        }

        var now = time.GetUtcNow();
        if (endpoint.DisabledAt is not null)
        {
            await outbox.FailAllAsync(EndpointId, $"endpoint disabled: {endpoint.DisabledReason}", now, options.Value.KeptDeliveriesPerEndpoint);
            await UpdateBacklogAsync();
            return null;
        }

        var pending = await outbox.PendingAsync(EndpointId, ReadPerRound);
        await UpdateBacklogAsync();

        // A call's later events wait for its first: only the head of each call with nothing on its way is a candidate.
        var heads = pending.GroupBy(p => p.Message.SessionId).Select(g => g.First()).Where(h => !_sending.Contains(h.Message.SessionId)).ToList();
        var free = options.Value.MaxConcurrentPerEndpoint - _sending.Count;
        foreach (var head in heads.Where(h => h.NextAttemptAt <= now).Take(Math.Max(0, free)))
        {
            _sending.Add(head.Message.SessionId);
            _ = SendAndGoOnAsync(endpoint, head);
        }

        // Due ones left over (every slot busy) start when a send finishes; the next wake-up is the next retry.
        var later = heads.Where(h => h.NextAttemptAt > now).Select(h => (DateTimeOffset?)h.NextAttemptAt).Min();
        return later;
    }

    private async Task SendAndGoOnAsync(WebhookEndpoint endpoint, PendingWebhook head)
    {
        try
        {
            if (await SendAsync(endpoint, head))
            {
                await GrainFactory.GetGrain<IWebhookRegistryGrain>(IWebhookRegistryGrain.Key).Disable(EndpointId, "the receiver answered 410 Gone");
                _endpoint = null;
            }
        }
        catch (Exception ex)
        {
            LogRoundFailed(ex, EndpointId);
        }
        finally
        {
            _sending.Remove(head.Message.SessionId);
            Kick();
        }
    }

    /// <summary>One attempt of one delivery, recorded; true when the receiver answered 410 Gone.</summary>
    private async Task<bool> SendAsync(WebhookEndpoint endpoint, PendingWebhook pending)
    {
        var message = pending.Message;
        var sentAt = time.GetUtcNow();
        var clock = Stopwatch.StartNew();
        int? status = null;
        string? error = null;
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, endpoint.Url)
            {
                Content = new StringContent(message.Body, Encoding.UTF8, "application/json"),
            };
            request.Headers.Add("webhook-id", message.WebhookId);
            request.Headers.Add("webhook-timestamp", sentAt.ToUnixTimeSeconds().ToString(System.Globalization.CultureInfo.InvariantCulture));
            request.Headers.Add("webhook-signature", new StandardWebhook(endpoint.Secret).Sign(message.WebhookId, sentAt, message.Body));
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(options.Value.TimeoutSeconds));
            using var response = await http.CreateClient(HttpClientName).SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
            status = (int)response.StatusCode;
        }
        catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException or IOException)
        {
            error = ex is OperationCanceledException ? $"no answer within {options.Value.TimeoutSeconds} s" : ex.Message;
        }

        var attempt = new WebhookAttempt(sentAt, status, error, Math.Round(clock.Elapsed.TotalMilliseconds, 1));
        var keep = options.Value.KeptDeliveriesPerEndpoint;
        if (status is >= 200 and < 300)
        {
            await outbox.RecordAsync(EndpointId, message.WebhookId, attempt, WebhookDeliveryStatus.Delivered, null, keep);
            metrics.Delivered("delivered", clock.Elapsed, time.GetUtcNow() - message.CreatedAt);
            return false;
        }

        if (status == (int)HttpStatusCode.Gone)
        {
            await outbox.RecordAsync(EndpointId, message.WebhookId, attempt, WebhookDeliveryStatus.Failed, null, keep);
            metrics.Delivered("disabled", clock.Elapsed, null);
            LogGone(EndpointId, message.WebhookId);
            return true;
        }

        var wait = Schedule[Math.Min(pending.Attempts.Length, Schedule.Length - 1)];
        var next = time.GetUtcNow() + wait;
        if (next > message.CreatedAt + options.Value.MaxAttemptAge)
        {
            await outbox.RecordAsync(EndpointId, message.WebhookId, attempt, WebhookDeliveryStatus.Failed, null, keep);
            metrics.Delivered("failed", clock.Elapsed, null);
            LogGaveUp(EndpointId, message.WebhookId, pending.Attempts.Length + 1, status, error);
            return false;
        }

        await outbox.RecordAsync(EndpointId, message.WebhookId, attempt, WebhookDeliveryStatus.Pending, next, keep);
        metrics.Delivered("retry", clock.Elapsed, null);
        LogRetry(EndpointId, message.WebhookId, status, error, wait);
        return false;
    }

    private async Task<WebhookEndpoint?> EndpointAsync()
    {
        if (_endpoint is null || time.GetUtcNow() - _endpointReadAt > TimeSpan.FromSeconds(5))
        {
            _endpoint = await GrainFactory.GetGrain<IWebhookRegistryGrain>(IWebhookRegistryGrain.Key).Find(EndpointId);
            _endpointReadAt = time.GetUtcNow();
        }

        return _endpoint;
    }

    private async Task UpdateBacklogAsync() => metrics.Backlog(EndpointId, await outbox.BacklogAsync(EndpointId));

    [LoggerMessage(2301, LogLevel.Information, "Webhook {EndpointId}: {WebhookId} not delivered (status {Status}, {Error}); next attempt in {Wait}")]
    private partial void LogRetry(string endpointId, string webhookId, int? status, string? error, TimeSpan wait);

    [LoggerMessage(2302, LogLevel.Warning, "Webhook {EndpointId}: {WebhookId} failed after {Attempts} attempts (status {Status}, {Error})")]
    private partial void LogGaveUp(string endpointId, string webhookId, int attempts, int? status, string? error);

    [LoggerMessage(2303, LogLevel.Warning, "Webhook {EndpointId}: the receiver answered 410 Gone to {WebhookId}; the endpoint is disabled")]
    private partial void LogGone(string endpointId, string webhookId);

    [LoggerMessage(2304, LogLevel.Warning, "Webhook {EndpointId}: a round of deliveries failed; trying again in 5 s")]
    private partial void LogRoundFailed(Exception exception, string endpointId);
}
