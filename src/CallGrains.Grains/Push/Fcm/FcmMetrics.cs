using System.Diagnostics.Metrics;
using CallGrains.Grains.Calls;

namespace CallGrains.Grains.Push.Fcm;

/// <summary>
/// Push attempts on the grains' meter, in the names every provider uses: <c>callgrains.push.sent</c> (provider, kind,
/// result; Prometheus <c>callgrains_push_sent_total</c>) and <c>callgrains.push.duration</c> (seconds, per provider).
/// </summary>
public sealed class FcmMetrics : IDisposable
{
    private readonly Meter _meter = new(CallMetrics.MeterName);
    private readonly Counter<long> _sent;
    private readonly Histogram<double> _duration;

    public FcmMetrics()
    {
        _sent = _meter.CreateCounter<long>("callgrains.push.sent", description: "Push attempts by provider, kind and result");
        _duration = _meter.CreateHistogram<double>("callgrains.push.duration", unit: "s", description: "How long one push attempt took, by provider");
    }

    public void Attempted(string provider, PushKind kind, PushOutcome outcome, TimeSpan duration)
    {
        _sent.Add(
            1,
            new KeyValuePair<string, object?>("provider", provider),
            new KeyValuePair<string, object?>("kind", Name(kind)),
            new KeyValuePair<string, object?>("result", Name(outcome)));
        _duration.Record(duration.TotalSeconds, new KeyValuePair<string, object?>("provider", provider));
    }

    public void Dispose() => _meter.Dispose();

    private static string Name(PushKind kind) => kind switch
    {
        PushKind.Ring => "ring",
        PushKind.Cancel => "cancel",
        _ => "missed",
    };

    private static string Name(PushOutcome outcome) => outcome switch
    {
        PushOutcome.Sent => "sent",
        PushOutcome.TokenGone => "token_gone",
        PushOutcome.Retry => "retry",
        _ => "failed",
    };
}
