using System.Collections.Immutable;
using CallGrains.Abstractions;
using Microsoft.Extensions.Options;

namespace CallGrains.Grains.History;

/// <summary>One user's history in silo memory: the embedded default's call log store (<see cref="MemoryCallLog"/>).</summary>
[Alias("cg.ICallLogGrain")]
public interface ICallLogGrain : IGrainWithStringKey
{
    [Alias("Add")]
    Task Add(CallLogEntry entry);

    [Alias("Query")]
    Task<CallLogPage> Query(CallLogQuery query);
}

/// <summary>
/// A user's history held in memory, newest first, at most <see cref="CallOptions.MaxLogEntriesPerUser"/> entries and
/// none older than <see cref="CallOptions.LogRetention"/>. It stays active while it holds entries (a timer drops the
/// expired ones) and goes when the last one has expired, so a user who stops calling costs nothing after the retention.
/// Memory only, like every other grain state of the embedded default: it does not outlive its silo.
/// </summary>
public sealed class CallLogGrain(IOptions<CallOptions> options, TimeProvider time) : Grain, ICallLogGrain
{
    // Expired entries are dropped at least this often (and on every add).
    private static readonly TimeSpan MaxExpiryInterval = TimeSpan.FromMinutes(1);

    // Newest first (CallLogPosition's order): Max is the oldest entry, and a view from a cursor seeks in O(log n).
    private readonly SortedSet<CallLogPosition> _order = new(CallLogPosition.NewestFirst);
    private readonly Dictionary<string, CallLogEntry> _bySession = new(StringComparer.Ordinal);
    private IGrainTimer? _expiry;

    private TimeSpan Retention => options.Value.LogRetention;

    public Task Add(CallLogEntry entry)
    {
        if (!Expired(entry) && _bySession.TryAdd(entry.Call.SessionId, entry))
        {
            _order.Add(entry.Position);
            while (_order.Count > options.Value.MaxLogEntriesPerUser)
            {
                Forget(_order.Max!);
            }
        }

        DropExpired();
        return Task.CompletedTask;
    }

    public Task<CallLogPage> Query(CallLogQuery query)
    {
        var found = ImmutableArray.CreateBuilder<CallLogEntry>(query.Limit);
        CallLogPosition? last = null;
        var examined = 0;
        var more = false;
        foreach (var position in After(query.After))
        {
            if (found.Count == query.Limit || examined == CallHistory.MaxScanPerPage)
            {
                more = true;
                break;
            }

            examined++;
            last = position;
            var entry = _bySession[CallHistory.SessionIdOf(position.Key)];
            if (!Expired(entry) && CallHistory.Matches(position.Key, query))
            {
                found.Add(entry);
            }
        }

        return Task.FromResult(new CallLogPage(found.ToImmutable(), more ? last : null));
    }

    private IEnumerable<CallLogPosition> After(CallLogPosition? after)
    {
        if (_order.Count == 0)
        {
            return [];
        }

        if (after is null)
        {
            return _order;
        }

        return Order(after, _order.Max!) >= 0 ? [] : _order.GetViewBetween(after, _order.Max!).Where(p => Order(p, after) > 0);
    }

    private static int Order(CallLogPosition a, CallLogPosition b) => CallLogPosition.NewestFirst.Compare(a, b);

    private bool Expired(CallLogEntry entry) => entry.Call.InitiatedAt + Retention <= time.GetUtcNow();

    private void Forget(CallLogPosition position)
    {
        _bySession.Remove(CallHistory.SessionIdOf(position.Key));
        _order.Remove(position);
    }

    private void DropExpired()
    {
        while (_order.Max is { } oldest && Expired(_bySession[CallHistory.SessionIdOf(oldest.Key)]))
        {
            Forget(oldest);
        }

        if (_order.Count == 0)
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
