using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using CallGrains.Grains.Calls;

namespace CallGrains.Grains.Webhooks;

/// <summary>
/// Webhook deliveries on the grains' meter: attempts by result (<c>callgrains_webhook_deliveries_total{result}</c>:
/// delivered, retry, failed, disabled), each attempt's latency, the time from an event to its delivery, and the backlog of
/// each endpoint whose delivery grain lives on this silo.
/// </summary>
public sealed class WebhookMetrics : IDisposable
{
    private readonly Meter _meter = new(CallMetrics.MeterName);
    private readonly Counter<long> _deliveries;
    private readonly Histogram<double> _latency;
    private readonly Histogram<double> _age;
    private readonly ConcurrentDictionary<string, long> _backlog = new();

    public WebhookMetrics()
    {
        _deliveries = _meter.CreateCounter<long>("callgrains.webhook.deliveries", description: "Webhook delivery attempts by result (delivered, retry, failed, disabled)");
        _latency = _meter.CreateHistogram<double>(
            "callgrains.webhook.latency",
            unit: "s",
            description: "One delivery attempt, request to the receiver's answer (or the timeout)",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] });
        _age = _meter.CreateHistogram<double>(
            "callgrains.webhook.delivery_delay",
            unit: "s",
            description: "From the event to its delivery (retries included)",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120, 600, 3600, 86400] });
        _meter.CreateObservableGauge(
            "callgrains.webhook.backlog",
            () => _backlog.Select(b => new Measurement<long>(b.Value, new KeyValuePair<string, object?>("endpoint", b.Key))),
            description: "Deliveries waiting, per endpoint (reported by the silo that delivers it)");
    }

    public void Delivered(string result, TimeSpan latency, TimeSpan? sinceEvent)
    {
        _deliveries.Add(1, new KeyValuePair<string, object?>("result", result));
        _latency.Record(latency.TotalSeconds);
        if (sinceEvent is { } age)
        {
            _age.Record(age.TotalSeconds);
        }
    }

    /// <summary>An endpoint's backlog now; null when this silo no longer delivers it.</summary>
    public void Backlog(string endpointId, long? waiting)
    {
        if (waiting is { } n)
        {
            _backlog[endpointId] = n;
        }
        else
        {
            _backlog.TryRemove(endpointId, out _);
        }
    }

    public void Dispose() => _meter.Dispose();
}
