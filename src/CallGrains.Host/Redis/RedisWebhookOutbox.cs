using System.Globalization;
using System.Text.Json;
using CallGrains.Abstractions;
using CallGrains.Grains.Webhooks;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using StackExchange.Redis;

namespace CallGrains.Host.Redis;

/// <summary>
/// Each endpoint's webhook queue in the cluster Redis, so a node that dies loses no event (PROTOCOL section 11). Per
/// endpoint, under <c>callgrains:{ServiceId}:wh:{endpointId}:</c>: <c>pending</c> (a sorted set of webhook ids by the
/// order they were queued), <c>items</c> (a hash of each pending delivery as JSON: the message, its attempts, when it is
/// tried next), <c>seq</c> (the order counter), <c>done</c> (a list of the last finished deliveries, newest first) and
/// <c>seen</c> (their ids, so an event queued again after a crash is not sent again). Appends and finishes are scripts,
/// so a delivery is pending or finished, never both or neither; only the endpoint's delivery grain writes here.
/// </summary>
public sealed class RedisWebhookOutbox(ConfigurationOptions redis, IOptions<ClusterOptions> cluster) : IWebhookOutbox, IAsyncDisposable
{
    // KEYS: pending, items, seq, seen. ARGV: max pending, then id/json pairs. Adds what is neither pending nor seen,
    // then drops the oldest past the bound; returns the number added and the dropped ids and their JSON.
    private const string AppendScript = """
        local max = tonumber(ARGV[1])
        local added = 0
        for i = 2, #ARGV, 2 do
          local id, json = ARGV[i], ARGV[i + 1]
          if redis.call('HEXISTS', KEYS[2], id) == 0 and not redis.call('ZSCORE', KEYS[4], id) then
            redis.call('ZADD', KEYS[1], redis.call('INCR', KEYS[3]), id)
            redis.call('HSET', KEYS[2], id, json)
            added = added + 1
          end
        end
        local dropped = {}
        while redis.call('ZCARD', KEYS[1]) > max do
          local id = redis.call('ZPOPMIN', KEYS[1])[1]
          dropped[#dropped + 1] = id
          dropped[#dropped + 1] = redis.call('HGET', KEYS[2], id)
          redis.call('HDEL', KEYS[2], id)
        end
        return {added, dropped}
        """;

    // KEYS: pending, items, done, seen. ARGV: id, finished JSON, keep, now (ms). Moves one delivery to the finished.
    private const string FinishScript = """
        redis.call('ZREM', KEYS[1], ARGV[1])
        redis.call('HDEL', KEYS[2], ARGV[1])
        redis.call('LPUSH', KEYS[3], ARGV[2])
        redis.call('LTRIM', KEYS[3], 0, tonumber(ARGV[3]) - 1)
        redis.call('ZADD', KEYS[4], ARGV[4], ARGV[1])
        redis.call('ZREMRANGEBYRANK', KEYS[4], 0, -tonumber(ARGV[3]) - 1)
        return 1
        """;

    // KEYS: pending, items. ARGV: id, JSON. Rewrites a pending delivery only while it is still pending.
    private const string UpdateScript = """
        if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1 then redis.call('HSET', KEYS[2], ARGV[1], ARGV[2]) return 1 end
        return 0
        """;

    private readonly RedisLazyConnection _redis = new(redis);
    private readonly string _prefix = $"callgrains:{cluster.Value.ServiceId}:wh:";

    public async Task<int> AppendAsync(string endpointId, IReadOnlyList<WebhookMessage> messages, int maxPending, DateTimeOffset now)
    {
        var db = await DatabaseAsync();
        var args = new List<RedisValue> { maxPending };
        foreach (var message in messages)
        {
            args.Add(message.WebhookId);
            args.Add(JsonSerializer.Serialize(new PendingWebhook(message, [], now)));
        }

        var result = (RedisResult[])(await db.ScriptEvaluateAsync(AppendScript, Keys(endpointId, "pending", "items", "seq", "seen"), [.. args]))!;
        var dropped = (RedisResult[])result[1]!;
        for (var i = 0; i + 1 < dropped.Length; i += 2)
        {
            if (JsonSerializer.Deserialize<PendingWebhook>((string)dropped[i + 1]!) is { } pending)
            {
                await FinishAsync(db, endpointId, pending, new WebhookAttempt(now, null, "dropped: the endpoint's backlog is full (Webhooks:MaxPendingPerEndpoint)", 0), WebhookDeliveryStatus.Failed, int.MaxValue, now);
            }
        }

        return (int)result[0];
    }

    public async Task<IReadOnlyList<PendingWebhook>> PendingAsync(string endpointId, int max)
    {
        var db = await DatabaseAsync();
        var ids = await db.SortedSetRangeByRankAsync(Key(endpointId, "pending"), 0, max - 1);
        return await ItemsAsync(db, endpointId, ids);
    }

    public async Task RecordAsync(string endpointId, string webhookId, WebhookAttempt attempt, WebhookDeliveryStatus status, DateTimeOffset? nextAttemptAt, int keep)
    {
        var db = await DatabaseAsync();
        var json = await db.HashGetAsync(Key(endpointId, "items"), webhookId);
        if (json.IsNull || JsonSerializer.Deserialize<PendingWebhook>((string)json!) is not { } pending)
        {
            return;
        }

        if (status == WebhookDeliveryStatus.Pending)
        {
            var next = pending with { Attempts = pending.Attempts.Add(attempt), NextAttemptAt = nextAttemptAt ?? attempt.At };
            await db.ScriptEvaluateAsync(UpdateScript, Keys(endpointId, "pending", "items"), [webhookId, JsonSerializer.Serialize(next)]);
            return;
        }

        await FinishAsync(db, endpointId, pending, attempt, status, keep, attempt.At);
    }

    public async Task FailAllAsync(string endpointId, string reason, DateTimeOffset now, int keep)
    {
        var db = await DatabaseAsync();
        foreach (var pending in await PendingAsync(endpointId, int.MaxValue))
        {
            await FinishAsync(db, endpointId, pending, new WebhookAttempt(now, null, reason, 0), WebhookDeliveryStatus.Failed, keep, now);
        }
    }

    public async Task<IReadOnlyList<WebhookDelivery>> DeliveriesAsync(string endpointId, WebhookDeliveryStatus? status, int limit)
    {
        var db = await DatabaseAsync();
        var result = new List<WebhookDelivery>();
        if (status is null or WebhookDeliveryStatus.Pending)
        {
            var ids = await db.SortedSetRangeByRankAsync(Key(endpointId, "pending"), 0, limit - 1, Order.Descending);
            result.AddRange((await ItemsAsync(db, endpointId, ids)).Select(AsDelivery));
        }

        if (status is not WebhookDeliveryStatus.Pending && result.Count < limit)
        {
            // Finished ones, newest first; a status filter reads at most the kept list once.
            foreach (var json in await db.ListRangeAsync(Key(endpointId, "done"), 0, status is null ? limit - result.Count - 1 : -1))
            {
                if (JsonSerializer.Deserialize<WebhookDelivery>((string)json!) is { } done && (status is null || done.Status == status))
                {
                    result.Add(done);
                    if (result.Count == limit)
                    {
                        break;
                    }
                }
            }
        }

        return result;
    }

    public async Task<long> BacklogAsync(string endpointId) => await (await DatabaseAsync()).SortedSetLengthAsync(Key(endpointId, "pending"));

    public async Task DeleteAsync(string endpointId) =>
        await (await DatabaseAsync()).KeyDeleteAsync(Keys(endpointId, "pending", "items", "seq", "done", "seen"));

    public ValueTask DisposeAsync() => _redis.DisposeAsync();

    private static WebhookDelivery AsDelivery(PendingWebhook p) =>
        new(p.Message.WebhookId, p.Message.Type, p.Message.SessionId, p.Message.CreatedAt, WebhookDeliveryStatus.Pending, p.Attempts) { NextAttemptAt = p.NextAttemptAt };

    private async Task FinishAsync(IDatabase db, string endpointId, PendingWebhook pending, WebhookAttempt attempt, WebhookDeliveryStatus status, int keep, DateTimeOffset now)
    {
        var finished = AsDelivery(pending) with { Status = status, Attempts = pending.Attempts.Add(attempt), NextAttemptAt = null };
        await db.ScriptEvaluateAsync(
            FinishScript,
            Keys(endpointId, "pending", "items", "done", "seen"),
            [pending.Message.WebhookId, JsonSerializer.Serialize(finished), Math.Min(keep, 100_000), now.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture)]);
    }

    private async Task<IReadOnlyList<PendingWebhook>> ItemsAsync(IDatabase db, string endpointId, RedisValue[] ids)
    {
        if (ids.Length == 0)
        {
            return [];
        }

        var items = await db.HashGetAsync(Key(endpointId, "items"), ids);
        return [.. items.Where(v => !v.IsNull).Select(v => JsonSerializer.Deserialize<PendingWebhook>((string)v!)!)];
    }

    private async Task<IDatabase> DatabaseAsync() => (await _redis.ConnectAsync()).GetDatabase();

    private string Key(string endpointId, string part) => $"{_prefix}{endpointId}:{part}";

    private RedisKey[] Keys(string endpointId, params string[] parts) => [.. parts.Select(p => (RedisKey)Key(endpointId, p))];
}
