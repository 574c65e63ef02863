using CallGrains.Abstractions;

namespace CallGrains.Grains.History;

/// <summary>
/// One user's history entries in memory, in <see cref="CallLogPosition"/> order from the oldest, as values in one
/// list: an entry costs no object of its own (its record is the <see cref="ArchivedCall"/>'s shared array). The
/// oldest entries go from the front by moving a head index (the list is compacted when the dropped part is as long as
/// the live one), and calls mostly settle in the order they began, so both ends cost O(1) amortized; a page seeks its
/// cursor in O(log n).
/// </summary>
internal sealed class HistoryEntries
{
    private readonly List<Entry> _items = [];
    private int _head;

    /// <summary>
    /// An entry: the call's start in Unix milliseconds, its index key's flag characters packed (the first in the
    /// highest byte, so numbers compare as the characters do), the session id and the serialized record.
    /// </summary>
    public readonly record struct Entry(long At, ulong Flags, string SessionId, byte[] Record)
    {
        /// <summary>The entry's place in the history, as a page's cursor names it.</summary>
        public CallLogPosition Position
        {
            get
            {
                Span<char> flags = stackalloc char[CallHistory.FlagCount];
                WriteFlags(flags);
                return new CallLogPosition(At, CallHistory.IndexKey(flags, SessionId));
            }
        }

        public bool Matches(CallLogQuery query)
        {
            Span<char> flags = stackalloc char[CallHistory.FlagCount];
            WriteFlags(flags);
            return CallHistory.FlagsMatch(flags, query);
        }

        private void WriteFlags(Span<char> span)
        {
            for (var i = 0; i < CallHistory.FlagCount; i++)
            {
                span[i] = (char)((Flags >> (8 * (CallHistory.FlagCount - 1 - i))) & 0xFF);
            }
        }
    }

    public int Count => _items.Count - _head;

    public Entry Oldest => _items[_head];

    /// <summary>Packs an index key's flag characters (<see cref="CallHistory.WriteFlags"/>) for <see cref="Entry.Flags"/>.</summary>
    public static ulong PackFlags(ReadOnlySpan<char> key)
    {
        ulong packed = 0;
        for (var i = 0; i < CallHistory.FlagCount; i++)
        {
            packed = (packed << 8) | (i < key.Length ? Math.Min(key[i], (char)0xFF) : 0u);
        }

        return packed;
    }

    /// <summary>Adds an entry in its place; false (and nothing changes) if the history already holds its session.</summary>
    public bool Add(Entry entry)
    {
        var index = LowerBound(entry.At, 0, string.Empty);
        for (var i = index; i < _items.Count && _items[i].At == entry.At; i++)
        {
            if (_items[i].SessionId == entry.SessionId)
            {
                return false;
            }
        }

        _items.Insert(LowerBound(entry.At, entry.Flags, entry.SessionId), entry);
        return true;
    }

    public void RemoveOldest()
    {
        _items[_head++] = default;
        if (_head == _items.Count)
        {
            _items.Clear();
            _head = 0;
        }
        else if (_head >= 64 && _head >= Count)
        {
            _items.RemoveRange(0, _head);
            _head = 0;
        }
    }

    /// <summary>The entries newest first, from the newest or from just after <paramref name="after"/> (a page's cursor).</summary>
    public IEnumerable<Entry> NewestFirst(CallLogPosition? after)
    {
        var from = after is null
            ? _items.Count
            : LowerBound(after.At, PackFlags(after.Key), after.Key.Length > CallHistory.FlagCount + 1 ? after.Key[(CallHistory.FlagCount + 1)..] : string.Empty);
        for (var i = from - 1; i >= _head; i--)
        {
            yield return _items[i];
        }
    }

    // The first live index whose entry is not before (at, flags, sessionId) in ascending order.
    private int LowerBound(long at, ulong flags, string sessionId)
    {
        int lo = _head, hi = _items.Count;
        while (lo < hi)
        {
            var mid = lo + ((hi - lo) / 2);
            if (Compare(_items[mid], at, flags, sessionId) < 0)
            {
                lo = mid + 1;
            }
            else
            {
                hi = mid;
            }
        }

        return lo;
    }

    private static int Compare(Entry entry, long at, ulong flags, string sessionId)
    {
        var byTime = entry.At.CompareTo(at);
        if (byTime != 0)
        {
            return byTime;
        }

        var byFlags = entry.Flags.CompareTo(flags);
        return byFlags != 0 ? byFlags : string.CompareOrdinal(entry.SessionId, sessionId);
    }
}
