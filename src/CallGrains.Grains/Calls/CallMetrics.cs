using System.Diagnostics.Metrics;
using CallGrains.Abstractions;

namespace CallGrains.Grains.Calls;

/// <summary>The grains' meter: calls by the final status they settled in, and their move into the call log.</summary>
public sealed class CallMetrics : IDisposable
{
    public const string MeterName = "CallGrains";

    private readonly Meter _meter = new(MeterName);
    private readonly Counter<long> _settled;
    private readonly Counter<long> _archived;
    private readonly Counter<long> _archiveDeferred;

    public CallMetrics()
    {
        _settled = _meter.CreateCounter<long>("callgrains.calls.settled", description: "Calls by final status");
        _archived = _meter.CreateCounter<long>("callgrains.calls.archived", description: "Settled calls written to the call log and deleted from grain storage");
        _archiveDeferred = _meter.CreateCounter<long>(
            "callgrains.calls.archive_deferred",
            description: "Archive attempts that failed (the call log unreachable) and are retried; the call stays stored meanwhile");
    }

    public void Archived() => _archived.Add(1);

    public void ArchiveDeferred() => _archiveDeferred.Add(1);

    public void Settled(CallStatus status) =>
        _settled.Add(1, new KeyValuePair<string, object?>("status", status.ToString().ToLowerInvariant()));

    public void Dispose() => _meter.Dispose();
}
