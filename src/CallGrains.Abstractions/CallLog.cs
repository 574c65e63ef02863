using System.Collections.Immutable;

namespace CallGrains.Abstractions;

/// <summary>Whether a call in a user's history was placed by them or to them.</summary>
public enum CallDirection
{
    Incoming = 0,
    Outgoing = 1,
}

/// <summary>
/// One settled call in one user's history (PROTOCOL section 8): the call as it ended, its direction for that user,
/// and whether it was a missed call for them.
/// </summary>
[GenerateSerializer, Immutable, Alias("cg.CallLogEntry")]
public sealed record CallLogEntry(
    [property: Id(0)] CallInfo Call,
    [property: Id(1)] CallDirection Direction,
    [property: Id(2)] bool Missed)
{
    /// <summary>Where the entry sits in the user's history, newest first.</summary>
    public CallLogPosition Position => new(Call.InitiatedAt.ToUnixTimeMilliseconds(), CallHistory.IndexKey(this));
}

/// <summary>
/// A place in a user's history: the call's start in Unix milliseconds and its index key (which starts with the
/// filterable flags and ends with the session id). Entries are ordered newest first by (At, Key), a strict order, so
/// a page that starts after a position never skips or repeats an entry, whatever is added meanwhile.
/// </summary>
[GenerateSerializer, Immutable, Alias("cg.CallLogPosition")]
public sealed record CallLogPosition([property: Id(0)] long At, [property: Id(1)] string Key)
{
    /// <summary>The order of a page: newest first, then by key, descending (as Redis orders a sorted set in reverse).</summary>
    public static readonly IComparer<CallLogPosition> NewestFirst = Comparer<CallLogPosition>.Create(static (a, b) =>
    {
        var byTime = b.At.CompareTo(a.At);
        return byTime != 0 ? byTime : string.CompareOrdinal(b.Key, a.Key);
    });
}

/// <summary>A log query of PROTOCOL section 8, validated: the filters that are null match everything.</summary>
[GenerateSerializer, Immutable, Alias("cg.CallLogQuery")]
public sealed record CallLogQuery
{
    [Id(0)] public int Limit { get; init; } = CallHistory.DefaultPageSize;

    /// <summary>Entries strictly after this position (from the cursor of the previous page); null from the newest.</summary>
    [Id(1)] public CallLogPosition? After { get; init; }

    [Id(2)] public CallStatus? Status { get; init; }
    [Id(3)] public CallType? CallType { get; init; }
    [Id(4)] public CallDirection? Direction { get; init; }
    [Id(5)] public ReceiverType? ReceiverType { get; init; }
    [Id(6)] public bool? Missed { get; init; }
}

/// <summary>
/// A page of a user's history, newest first, and where the next page starts: null when the whole history was
/// examined. A filtered page may hold fewer entries than asked for while <see cref="Next"/> is set: each page examines
/// at most <see cref="CallHistory.MaxScanPerPage"/> entries, so its cost does not grow with the history.
/// </summary>
[GenerateSerializer, Immutable, Alias("cg.CallLogPage")]
public sealed record CallLogPage(
    [property: Id(0)] ImmutableArray<CallLogEntry> Entries,
    [property: Id(1)] CallLogPosition? Next);

/// <summary>
/// Where settled calls are kept, for <c>Calls:LogRetention</c>: each call's final record by session id (which also
/// answers late requests on it once its session has left grain storage), and each party's history, at most
/// <c>Calls:MaxLogEntriesPerUser</c> entries per user. Redis in production, silo memory in the embedded default.
/// </summary>
public interface ICallLog
{
    /// <summary>
    /// Writes the final record of a settled call and every party's entry. Idempotent (an entry is keyed by user and
    /// session), so a call archived twice after a crash still has one entry per party.
    /// </summary>
    Task AppendAsync(CallInfo settled);

    /// <summary>A page of <paramref name="uid"/>'s history.</summary>
    Task<CallLogPage> QueryAsync(string uid, CallLogQuery query);

    /// <summary>The final record of call <paramref name="sessionId"/>, until it expires; null if there is none.</summary>
    Task<CallInfo?> FindAsync(string sessionId);
}

/// <summary>The rules of call history: who has an entry, its direction, what counts as missed, how entries are indexed.</summary>
public static class CallHistory
{
    public const int DefaultPageSize = 30;
    public const int MaxPageSize = 100;

    /// <summary>Entries a page examines at most; a filtered page that finds too few stops here and says where to go on.</summary>
    public const int MaxScanPerPage = 1000;

    /// <summary>
    /// The users whose history holds <paramref name="call"/>: for a 1:1 call, the caller and the callee; for a group
    /// call, the initiator and every member it rang, found busy or was joined by.
    /// </summary>
    public static IEnumerable<string> Parties(CallInfo call) =>
        call.IsGroup ? [call.Initiator.Uid, .. call.Members.Select(m => m.Uid)] : [call.Initiator.Uid, call.ReceiverId];

    public static bool IsParty(CallInfo call, string uid) => Parties(call).Contains(uid);

    /// <summary>
    /// <paramref name="uid"/>'s entry of a settled call. Missed: an incoming call this user neither joined nor declined
    /// (unanswered, cancelled by the caller, or refused as busy by the server).
    /// </summary>
    public static CallLogEntry EntryFor(CallInfo call, string uid)
    {
        var outgoing = call.Initiator.Uid == uid;
        var joined = call.Participants.Any(p => p.Uid == uid);
        var missed = !outgoing && !joined && !call.Declined.Contains(uid);
        return new CallLogEntry(call, outgoing ? CallDirection.Outgoing : CallDirection.Incoming, missed);
    }

    /// <summary>Every party's entry of a settled call.</summary>
    public static IEnumerable<(string Uid, CallLogEntry Entry)> Entries(CallInfo call) =>
        Parties(call).Distinct().Select(uid => (uid, EntryFor(call, uid)));

    /// <summary>
    /// The entry's key in its user's index: five flag characters (direction, missed, status, call type, receiver
    /// type), a colon and the session id. A store can filter on the key without reading the call.
    /// </summary>
    public static string IndexKey(CallLogEntry entry)
    {
        Span<char> flags = stackalloc char[FlagCount];
        WriteFlags(entry, flags);
        return IndexKey(flags, entry.Call.SessionId);
    }

    /// <summary>An index key from its flag characters and the session id.</summary>
    public static string IndexKey(ReadOnlySpan<char> flags, string sessionId) => string.Concat(flags, ":", sessionId);

    /// <summary>The number of flag characters an index key starts with.</summary>
    public const int FlagCount = 5;

    /// <summary>Writes the entry's <see cref="FlagCount"/> flag characters, the start of its index key.</summary>
    public static void WriteFlags(CallLogEntry entry, Span<char> flags)
    {
        flags[0] = entry.Direction == CallDirection.Outgoing ? 'o' : 'i';
        flags[1] = entry.Missed ? 'm' : '-';
        flags[2] = (char)('0' + (int)entry.Call.Status);
        flags[3] = (char)('0' + (int)entry.Call.CallType);
        flags[4] = (char)('0' + (int)entry.Call.ReceiverType);
    }

    /// <summary>Whether an index key passes the query's filters.</summary>
    public static bool Matches(string key, CallLogQuery query) => key.Length > FlagCount + 1 && FlagsMatch(key, query);

    /// <summary>Whether an index key's flag characters (its first <see cref="FlagCount"/>) pass the query's filters.</summary>
    public static bool FlagsMatch(ReadOnlySpan<char> key, CallLogQuery query) =>
        key.Length >= FlagCount
        && (query.Direction is not { } d || key[0] == (d == CallDirection.Outgoing ? 'o' : 'i'))
        && (query.Missed is not { } m || (key[1] == 'm') == m)
        && (query.Status is not { } s || key[2] == (char)('0' + (int)s))
        && (query.CallType is not { } t || key[3] == (char)('0' + (int)t))
        && (query.ReceiverType is not { } r || key[4] == (char)('0' + (int)r));

    /// <summary>The session id at the end of an index key.</summary>
    public static string SessionIdOf(string key) => key[6..];

    /// <summary>The index key prefix pattern for the query as a Lua pattern (for stores that filter in a script).</summary>
    public static string LuaPattern(CallLogQuery query) => string.Concat(
        "^",
        query.Direction is { } d ? (d == CallDirection.Outgoing ? "o" : "i") : ".",
        query.Missed is { } m ? (m ? "m" : "%-") : ".",
        query.Status is { } s ? ((int)s).ToString(System.Globalization.CultureInfo.InvariantCulture) : ".",
        query.CallType is { } t ? ((int)t).ToString(System.Globalization.CultureInfo.InvariantCulture) : ".",
        query.ReceiverType is { } r ? ((int)r).ToString(System.Globalization.CultureInfo.InvariantCulture) : ".",
        ":");
}
