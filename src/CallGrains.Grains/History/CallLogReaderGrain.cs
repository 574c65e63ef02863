using CallGrains.Abstractions;
using Orleans.Concurrency;

namespace CallGrains.Grains.History;

/// <summary>An edge's history reads, on whichever silo takes them, from that silo's call log store.</summary>
[StatelessWorker]
public sealed class CallLogReaderGrain(ICallLog log) : Grain, ICallLogReaderGrain
{
    public Task<CallLogPage> Query(string uid, CallLogQuery query) => log.QueryAsync(uid, query);

    public Task<CallInfo?> Find(string sessionId) => log.FindAsync(sessionId);
}

/// <summary>The call log of an edge (an Orleans client with no store of its own): reads go to a silo, writes never happen here.</summary>
public sealed class ClusterCallLog(IGrainFactory grains) : ICallLog
{
    public Task AppendAsync(CallInfo settled) => throw new NotSupportedException("an edge does not archive calls");

    public Task<CallLogPage> QueryAsync(string uid, CallLogQuery query) => grains.Ref<ICallLogReaderGrain>(0).Query(uid, query);

    public Task<CallInfo?> FindAsync(string sessionId) => grains.Ref<ICallLogReaderGrain>(0).Find(sessionId);
}
