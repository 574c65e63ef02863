using System.Globalization;
using CallGrains.Abstractions;
using CallGrains.Grains;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using Orleans.Serialization;
using StackExchange.Redis;

namespace CallGrains.Host.Redis;

/// <summary>
/// Call history in Redis (docs/architecture.md, "Call history and retention"):
/// <list type="bullet">
/// <item><c>callgrains:{ServiceId}:call:{sessionId}</c>: the settled call (Orleans binary serializer), written with an
/// expiry of <see cref="CallOptions.LogRetention"/>: the record that late requests on the call are answered from.</item>
/// <item><c>callgrains:{ServiceId}:log:{uid}</c>: the user's history, a sorted set of index keys
/// (<see cref="CallHistory.IndexKey(CallLogEntry)"/>) scored by the call's start in Unix milliseconds. Every append drops the entries
/// past the retention and beyond <see cref="CallOptions.MaxLogEntriesPerUser"/>, and sets the set to expire a
/// retention later, so an idle user's history goes by itself.</item>
/// </list>
/// A settled call is written by one script: the record and every party's entry in one command and one round trip.
/// Nothing scans keys; a page is one script over one sorted set plus one MGET of at most a page of records.
/// </summary>
public sealed class RedisCallLog(
    ConfigurationOptions redis,
    IOptions<ClusterOptions> cluster,
    IOptions<CallOptions> options,
    Serializer serializer,
    TimeProvider time) : ICallLog, IAsyncDisposable
{
    // One page, consistently even while entries are added: walks the set newest first from the cursor (its millisecond
    // inclusive, skipping the keys at that millisecond that are not after the cursor's), examines at most ARGV[5]
    // entries, keeps those whose key matches the filter pattern, at most ARGV[4]. Returns the kept keys and scores,
    // then 1 and the last examined position if there may be more, or 0 at the end of the set. Keys are compared byte
    // by byte: Lua's own string comparison follows the server's locale.
    private const string PageScript = """
        local key, maxScore, afterKey, minScore = KEYS[1], ARGV[1], ARGV[2], ARGV[3]
        local limit, budget, pattern = tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6]
        local atScore = tonumber(maxScore)
        local function before(a, b)
          local n = math.min(#a, #b)
          for i = 1, n do
            local x, y = string.byte(a, i), string.byte(b, i)
            if x ~= y then return x < y end
          end
          return #a < #b
        end
        local found, examined, offset = {}, 0, 0
        local lastKey, lastScore = '', ''
        while true do
          local batch = redis.call('ZREVRANGEBYSCORE', key, maxScore, minScore, 'WITHSCORES', 'LIMIT', offset, 200)
          if #batch == 0 then return {found, 0} end
          for i = 1, #batch, 2 do
            local member, score = batch[i], batch[i + 1]
            offset = offset + 1
            if not (afterKey ~= '' and tonumber(score) == atScore and not before(member, afterKey)) then
              if #found == 2 * limit or examined == budget then return {found, 1, lastScore, lastKey} end
              examined = examined + 1
              lastKey, lastScore = member, score
              if string.find(member, pattern) then
                found[#found + 1] = member
                found[#found + 1] = score
              end
            end
          end
        end
        """;

    // A settled call in one step, one round trip however many parties it had: its record (KEYS[1], expiring a retention
    // later), then for each party's history (KEYS[2..]) its entry, the entries past the retention and beyond the cap
    // dropped, the set's expiry moved a retention on. ARGV: the record, the retention in ms, the cutoff in Unix ms (an
    // entry at it or before goes), the cap, then an index key and its score per party, in the order of KEYS[2..].
    private const string AppendScript = """
        local retention, cutoff, keep = ARGV[2], ARGV[3], tonumber(ARGV[4])
        redis.call('SET', KEYS[1], ARGV[1], 'PX', retention)
        for i = 2, #KEYS do
          local at = 5 + (i - 2) * 2
          redis.call('ZADD', KEYS[i], ARGV[at + 1], ARGV[at])
          redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', cutoff)
          redis.call('ZREMRANGEBYRANK', KEYS[i], 0, -(keep + 1))
          redis.call('PEXPIRE', KEYS[i], retention)
        end
        return #KEYS - 1
        """;

    private readonly RedisLazyConnection _redis = new(redis);
    private readonly string _prefix = $"callgrains:{cluster.Value.ServiceId}:";

    private TimeSpan Retention => options.Value.LogRetention;

    public async Task AppendAsync(CallInfo settled)
    {
        var db = (await _redis.ConnectAsync()).GetDatabase();
        var entries = CallHistory.Entries(settled).ToList();
        RedisKey[] keys = [CallKey(settled.SessionId), .. entries.Select(e => LogKey(e.Uid))];
        RedisValue[] args =
        [
            serializer.SerializeToArray(settled),
            (long)Retention.TotalMilliseconds,
            (time.GetUtcNow() - Retention).ToUnixTimeMilliseconds(),
            options.Value.MaxLogEntriesPerUser,
            .. entries.SelectMany(e => new RedisValue[] { CallHistory.IndexKey(e.Entry), e.Entry.Position.At }),
        ];
        await db.ScriptEvaluateAsync(AppendScript, keys, args);
    }

    public async Task<CallLogPage> QueryAsync(string uid, CallLogQuery query)
    {
        var db = (await _redis.ConnectAsync()).GetDatabase();
        var cutoff = (time.GetUtcNow() - Retention).ToUnixTimeMilliseconds();
        var result = (RedisResult[])(await db.ScriptEvaluateAsync(
            PageScript,
            [LogKey(uid)],
            [
                query.After is { } after ? after.At.ToString(CultureInfo.InvariantCulture) : "+inf",
                query.After?.Key ?? "",
                "(" + cutoff.ToString(CultureInfo.InvariantCulture),
                query.Limit,
                CallHistory.MaxScanPerPage,
                CallHistory.LuaPattern(query),
            ]))!;
        var found = (RedisResult[])result[0]!;
        var next = (int)result[1] == 1
            ? new CallLogPosition(long.Parse((string)result[2]!, CultureInfo.InvariantCulture), (string)result[3]!)
            : null;
        if (found.Length == 0)
        {
            return new CallLogPage([], next);
        }

        var keys = Enumerable.Range(0, found.Length / 2).Select(i => (string)found[2 * i]!).ToList();
        var records = await db.StringGetAsync([.. keys.Select(k => CallKey(CallHistory.SessionIdOf(k)))]);

        // A record can only be missing at the very edge of the retention: such an entry has just expired.
        var entries = records.Where(r => r.HasValue).Select(r => CallHistory.EntryFor(serializer.Deserialize<CallInfo>((byte[])r!)!, uid));
        return new CallLogPage([.. entries], next);
    }

    public async Task<CallInfo?> FindAsync(string sessionId)
    {
        var record = await (await _redis.ConnectAsync()).GetDatabase().StringGetAsync(CallKey(sessionId));
        return record.HasValue ? serializer.Deserialize<CallInfo>((byte[])record!) : null;
    }

    public ValueTask DisposeAsync() => _redis.DisposeAsync();

    private RedisKey CallKey(string sessionId) => _prefix + "call:" + sessionId;

    private RedisKey LogKey(string uid) => _prefix + "log:" + uid;
}
