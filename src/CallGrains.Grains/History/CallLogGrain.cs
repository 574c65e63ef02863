using System.Collections.Immutable;
using CallGrains.Abstractions;
using Microsoft.Extensions.Options;
using Orleans.Serialization;

namespace CallGrains.Grains.History;

/// <summary>One user's history in silo memory: the embedded default's call log store (<see cref="MemoryCallLog"/>).</summary>
[Alias("cg.ICallLogGrain")]
public interface ICallLogGrain : IGrainWithStringKey
{
    /// <summary>Adds this user's entry of a settled call: the shared record and the entry's index key flags.</summary>
    [Alias("Add")]
    Task Add(ArchivedCall settled, ulong flags);

    [Alias("Query")]
    Task<CallLogPage> Query(CallLogQuery query);
}

/// <summary>
/// A user's history held in memory, newest first, at most <see cref="CallOptions.MaxLogEntriesPerUser"/> entries and
/// none older than <see cref="CallOptions.LogRetention"/>. It stays active while it holds entries (a timer drops the
/// expired ones) and goes when the last one has expired, so a user who stops calling costs nothing after the retention.
/// Each entry is a value in <see cref="HistoryEntries"/> over the call's serialized record, read back only for a page.
/// Memory only, like every other grain state of the embedded default: it does not outlive its silo.
/// </summary>
public sealed class CallLogGrain(IOptions<CallOptions> options, TimeProvider time, Serializer serializer) : Grain, ICallLogGrain
{
    // Expired entries are dropped at least this often (and on every add).
    private static readonly TimeSpan MaxExpiryInterval = TimeSpan.FromMinutes(1);

    private readonly HistoryEntries _entries = new();
    private IGrainTimer? _expiry;

    private TimeSpan Retention => options.Value.LogRetention;

    public Task Add(ArchivedCall settled, ulong flags)
    {
        if (!Expired(settled.At) && _entries.Add(new HistoryEntries.Entry(settled.At, flags, settled.SessionId, settled.Record)))
        {
            while (_entries.Count > options.Value.MaxLogEntriesPerUser)
            {
                _entries.RemoveOldest();
            }
        }

        DropExpired();
        return Task.CompletedTask;
    }

    public Task<CallLogPage> Query(CallLogQuery query)
    {
        var uid = this.GetPrimaryKeyString();
        var found = ImmutableArray.CreateBuilder<CallLogEntry>(query.Limit);
        HistoryEntries.Entry last = default;
        var examined = 0;
        var more = false;
        foreach (var entry in _entries.NewestFirst(query.After))
        {
            if (found.Count == query.Limit || examined == CallHistory.MaxScanPerPage)
            {
                more = true;
                break;
            }

            examined++;
            last = entry;
            if (!Expired(entry.At) && entry.Matches(query))
            {
                found.Add(CallHistory.EntryFor(serializer.Deserialize<CallInfo>(entry.Record)!, uid));
            }
        }

        return Task.FromResult(new CallLogPage(found.ToImmutable(), more ? last.Position : null));
    }

    private bool Expired(long at) => DateTimeOffset.FromUnixTimeMilliseconds(at) + Retention <= time.GetUtcNow();

    private void DropExpired()
    {
        while (_entries.Count > 0 && Expired(_entries.Oldest.At))
        {
            _entries.RemoveOldest();
        }

        if (_entries.Count == 0)
        {
            _expiry?.Dispose();
            _expiry = null;
            this.DeactivateOnIdle();
            return;
        }

        var interval = Retention < MaxExpiryInterval ? Retention : MaxExpiryInterval;
        _expiry ??= this.RegisterGrainTimer(
            () =>
            {
                DropExpired();
                return Task.CompletedTask;
            },
            new GrainTimerCreationOptions(interval, interval) { KeepAlive = true });
    }
}
