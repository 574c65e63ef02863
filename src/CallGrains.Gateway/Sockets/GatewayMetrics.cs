using System.Collections.Frozen;
using System.Diagnostics.Metrics;

namespace CallGrains.Gateway.Sockets;

/// <summary>The gateway's meter: open sockets and how long call setup takes inside the server.</summary>
public sealed class GatewayMetrics : IDisposable
{
    public const string MeterName = "CallGrains.Gateway";

    /// <summary>The <c>op</c> tag of a frame whose op was never read: malformed, or refused by the rate limit first.</summary>
    public const string NoOp = "none";

    private const string UnknownOp = "unknown";

    // The op tag takes only these (PROTOCOL section 4): a client's op string must never become a time series.
    private static readonly FrozenSet<string> KnownOps = FrozenSet.Create(
        StringComparer.Ordinal,
        "initiateCall", "acceptCall", "rejectCall", "endCall", "joinCall", "leaveCall", "generateToken", "sync", "signal", "ping");

    private readonly Meter _meter = new(MeterName);
    private readonly UpDownCounter<long> _connections;
    private readonly Histogram<double> _setup;
    private readonly Counter<long> _requests;

    public GatewayMetrics()
    {
        _connections = _meter.CreateUpDownCounter<long>("callgrains.gateway.connections", description: "Open WebSocket connections");
        _setup = _meter.CreateHistogram<double>(
            "callgrains.call.setup.duration",
            unit: "s",
            description: "initiateCall received to response sent, callee rung",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1] });
        _requests = _meter.CreateCounter<long>("callgrains.gateway.requests", description: "WebSocket requests by op and outcome");
    }

    public void ConnectionOpened() => _connections.Add(1);

    public void ConnectionClosed() => _connections.Add(-1);

    public void CallSetUp(TimeSpan elapsed) => _setup.Record(elapsed.TotalSeconds);

    /// <summary>Counts a request; an op outside PROTOCOL section 4 counts as <c>unknown</c>.</summary>
    public void Request(string op, string outcome)
    {
        var tag = op == NoOp ? NoOp : KnownOps.TryGetValue(op, out var known) ? known : UnknownOp;
        _requests.Add(1, new KeyValuePair<string, object?>("op", tag), new KeyValuePair<string, object?>("outcome", outcome));
    }

    public void Dispose() => _meter.Dispose();
}
