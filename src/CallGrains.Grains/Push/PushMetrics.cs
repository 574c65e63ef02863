using System.Diagnostics.Metrics;
using CallGrains.Abstractions;
using CallGrains.Grains.Calls;

namespace CallGrains.Grains.Push;

/// <summary>
/// Push attempts by provider, kind and result (<c>callgrains_push_sent_total</c> in Prometheus) and how long each took
/// (<c>callgrains_push_duration_seconds</c>), on the grains' meter.
/// </summary>
public sealed class PushMetrics : IDisposable
{
    private readonly Meter _meter = new(CallMetrics.MeterName);
    private readonly Counter<long> _sent;
    private readonly Histogram<double> _duration;
    private readonly Counter<long> _tokensRemoved;

    public PushMetrics()
    {
        _sent = _meter.CreateCounter<long>("callgrains.push.sent", description: "Push attempts by provider, kind and result (sent, token_gone, retry, failed)");
        _tokensRemoved = _meter.CreateCounter<long>("callgrains.push.tokens_removed", description: "Push tokens removed because the provider said they are gone, by provider and reason");
        _duration = _meter.CreateHistogram<double>(
            "callgrains.push.duration",
            unit: "s",
            description: "One push attempt, request to the provider's answer (or the timeout)",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] });
    }

    /// <summary>The meter, for tests that listen to this instance only.</summary>
    public Meter Meter => _meter;

    public void Attempted(string provider, PushKind kind, PushOutcome outcome, TimeSpan elapsed)
    {
        _sent.Add(
            1,
            new KeyValuePair<string, object?>("provider", provider),
            new KeyValuePair<string, object?>("kind", KindTag(kind)),
            new KeyValuePair<string, object?>("result", ResultTag(outcome)));
        _duration.Record(elapsed.TotalSeconds, new KeyValuePair<string, object?>("provider", provider));
    }

    public void TokenRemoved(string provider, string? reason) => _tokensRemoved.Add(
        1,
        new KeyValuePair<string, object?>("provider", provider),
        new KeyValuePair<string, object?>("reason", reason ?? "unknown"));

    public void Dispose() => _meter.Dispose();

    private static string KindTag(PushKind kind) => kind switch
    {
        PushKind.Ring => "ring",
        PushKind.Cancel => "cancel",
        _ => "missed",
    };

    private static string ResultTag(PushOutcome outcome) => outcome switch
    {
        PushOutcome.Sent => "sent",
        PushOutcome.TokenGone => "token_gone",
        PushOutcome.Retry => "retry",
        _ => "failed",
    };
}
