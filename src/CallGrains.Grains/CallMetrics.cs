using System.Diagnostics.Metrics;
using CallGrains.Abstractions;

namespace CallGrains.Grains;

/// <summary>The grains' meter: calls by the final status they settled in.</summary>
public sealed class CallMetrics : IDisposable
{
    public const string MeterName = "CallGrains";

    private readonly Meter _meter = new(MeterName);
    private readonly Counter<long> _settled;

    public CallMetrics() =>
        _settled = _meter.CreateCounter<long>("callgrains.calls.settled", description: "Calls by final status");

    public void Settled(CallStatus status) =>
        _settled.Add(1, new KeyValuePair<string, object?>("status", status.ToString().ToLowerInvariant()));

    public void Dispose() => _meter.Dispose();
}
