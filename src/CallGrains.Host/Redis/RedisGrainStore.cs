using CallGrains.Grains.Deadlines;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using Orleans.Serialization;
using Orleans.Storage;
using StackExchange.Redis;

namespace CallGrains.Host.Redis;

/// <summary>
/// Grain state in Redis, laid out as Orleans' Redis storage (10.x) lays it out: a hash
/// <c>{ServiceId}/state/{GrainId}/{state name}</c> with <c>etag</c> and <c>data</c> (the Orleans binary serializer's
/// bytes), written by a script that checks the etag. A deployment upgraded from it reads what it wrote. What it adds: a state that carries its own wake-up entry (<see cref="IIndexedState"/>) has that
/// entry added, moved or removed by the same script, and removed with the state on clear. A transition of a call is
/// then one round trip that stores it and its wake-up together; no stored state lacks its entry, and no entry
/// outlives a cleared state.
/// The state is serialized straight into an array of its size (<see cref="Serializer.SerializeToArray{T}"/>, pooled
/// buffers inside), the same bytes as Orleans' <c>OrleansGrainStorageSerializer</c> writes: that one grows an
/// <c>ArrayBufferWriter</c> from 256 bytes by doubling, which was 17% of the bytes a Redis-stored host allocated per
/// call (docs/benchmarks.md, issue 22 session 18).
/// </summary>
public sealed class RedisGrainStore(string name, ConfigurationOptions redis, Serializer serializer, IOptions<ClusterOptions> cluster)
    : IGrainStorage, IAsyncDisposable
{
    // KEYS[1] the state, KEYS[2] the wake-up index (absent for states without one).
    // ARGV: etag held ('' for none), new etag, data, entry id, entry score ('' to remove the entry).
    private const string WriteScript = """
        local etag = redis.call('HGET', KEYS[1], 'etag')
        if ((not etag or etag == '') and ARGV[1] == '') or etag == ARGV[1] then
          redis.call('HSET', KEYS[1], 'etag', ARGV[2], 'data', ARGV[3])
          if KEYS[2] then
            if ARGV[5] == '' then
              redis.call('ZREM', KEYS[2], ARGV[4])
            else
              redis.call('ZADD', KEYS[2], ARGV[5], ARGV[4])
            end
          end
          return 0
        end
        return -1
        """;

    // KEYS as above; ARGV: etag held, entry id.
    private const string ClearScript = """
        local etag = redis.call('HGET', KEYS[1], 'etag')
        if ((not etag or etag == '') and ARGV[1] == '') or etag == ARGV[1] then
          redis.call('DEL', KEYS[1])
          if KEYS[2] then
            redis.call('ZREM', KEYS[2], ARGV[2])
          end
          return 0
        end
        return -1
        """;

    private static readonly RedisValue ETagField = "etag";
    private static readonly RedisValue DataField = "data";

    private readonly RedisLazyConnection _redis = new(redis);
    private readonly string _serviceId = cluster.Value.ServiceId;

    public async Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        var entries = await (await _redis.ConnectAsync()).GetDatabase().HashGetAllAsync(Key(grainId, stateName));
        RedisValue etag = default;
        RedisValue data = default;
        foreach (var entry in entries)
        {
            if (entry.Name == ETagField)
            {
                etag = entry.Value;
            }
            else if (entry.Name == DataField)
            {
                data = entry.Value;
            }
        }

        if (etag.IsNullOrEmpty || data.IsNullOrEmpty)
        {
            // Nothing stored (or an empty record that Orleans' storage leaves on clear when told to keep it).
            grainState.ETag = etag.IsNullOrEmpty ? null : etag.ToString();
            grainState.RecordExists = false;
            return;
        }

        grainState.State = serializer.Deserialize<T>((byte[])data!);
        grainState.ETag = etag.ToString();
        grainState.RecordExists = true;
    }

    public async Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        var etag = Guid.NewGuid().ToString("N");
        var (keys, entryId) = Keys(grainId, stateName, grainState.State);
        RedisValue score = grainState.State is IIndexedState { WakeAt: { } wake } ? wake.ToUnixTimeMilliseconds() : RedisValue.EmptyString;
        var result = await (await _redis.ConnectAsync()).GetDatabase().ScriptEvaluateAsync(
            WriteScript,
            keys,
            [grainState.ETag ?? "", etag, serializer.SerializeToArray(grainState.State), entryId, score]);
        Check(result, "write", grainId, grainState.ETag);
        grainState.ETag = etag;
        grainState.RecordExists = true;
    }

    public async Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        var (keys, entryId) = Keys(grainId, stateName, grainState.State);
        var result = await (await _redis.ConnectAsync()).GetDatabase().ScriptEvaluateAsync(ClearScript, keys, [grainState.ETag ?? "", entryId]);
        Check(result, "clear", grainId, grainState.ETag);
        grainState.ETag = null;
        grainState.RecordExists = false;
    }

    public async ValueTask DisposeAsync() => await _redis.DisposeAsync();

    private RedisKey Key(GrainId grainId, string stateName) => $"{_serviceId}/state/{grainId}/{stateName}";

    private (RedisKey[] Keys, RedisValue EntryId) Keys(GrainId grainId, string stateName, object? state) => state is IIndexedState indexed
        ? ([Key(grainId, stateName), DeadlineIndexNames.Key(_serviceId, indexed.IndexName)], grainId.Key.ToString())
        : ([Key(grainId, stateName)], RedisValue.EmptyString);

    private void Check(RedisResult result, string operation, GrainId grainId, string? etag)
    {
        if ((int)result == -1)
        {
            throw new InconsistentStateException($"etag mismatch on {operation} of {grainId} in store {name}", "", etag ?? "");
        }
    }
}
