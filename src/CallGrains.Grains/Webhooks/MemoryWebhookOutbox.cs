using System.Collections.Concurrent;
using CallGrains.Abstractions;

namespace CallGrains.Grains.Webhooks;

/// <summary>
/// Endpoint queues in silo memory: the embedded host's store (one silo, nothing to survive). Bounded: pending by the
/// endpoint's bound, finished by the number kept.
/// </summary>
public sealed class MemoryWebhookOutbox : IWebhookOutbox
{
    private readonly ConcurrentDictionary<string, Queue> _queues = new();

    public Task<int> AppendAsync(string endpointId, IReadOnlyList<WebhookMessage> messages, int maxPending, DateTimeOffset now)
    {
        var queue = _queues.GetOrAdd(endpointId, _ => new Queue());
        var added = 0;
        lock (queue)
        {
            foreach (var message in messages)
            {
                if (queue.Pending.ContainsKey(message.WebhookId) || queue.FinishedIds.Contains(message.WebhookId))
                {
                    continue;
                }

                queue.Pending[message.WebhookId] = queue.Order.AddLast(new PendingWebhook(message, [], now));
                added++;
                while (queue.Pending.Count > maxPending && queue.Order.First is { } oldest)
                {
                    Finish(queue, oldest.Value, new WebhookAttempt(now, null, "dropped: the endpoint's backlog is full (Webhooks:MaxPendingPerEndpoint)", 0), WebhookDeliveryStatus.Failed, int.MaxValue);
                }
            }
        }

        return Task.FromResult(added);
    }

    public Task<IReadOnlyList<PendingWebhook>> PendingAsync(string endpointId, int max)
    {
        if (!_queues.TryGetValue(endpointId, out var queue))
        {
            return Task.FromResult<IReadOnlyList<PendingWebhook>>([]);
        }

        lock (queue)
        {
            return Task.FromResult<IReadOnlyList<PendingWebhook>>([.. queue.Order.Take(max)]);
        }
    }

    public Task RecordAsync(string endpointId, string webhookId, WebhookAttempt attempt, WebhookDeliveryStatus status, DateTimeOffset? nextAttemptAt, int keep)
    {
        if (_queues.TryGetValue(endpointId, out var queue))
        {
            lock (queue)
            {
                if (queue.Pending.TryGetValue(webhookId, out var node))
                {
                    if (status == WebhookDeliveryStatus.Pending)
                    {
                        node.Value = node.Value with { Attempts = node.Value.Attempts.Add(attempt), NextAttemptAt = nextAttemptAt ?? attempt.At };
                    }
                    else
                    {
                        Finish(queue, node.Value, attempt, status, keep);
                    }
                }
            }
        }

        return Task.CompletedTask;
    }

    public Task FailAllAsync(string endpointId, string reason, DateTimeOffset now, int keep)
    {
        if (_queues.TryGetValue(endpointId, out var queue))
        {
            lock (queue)
            {
                foreach (var pending in queue.Order.ToList())
                {
                    Finish(queue, pending, new WebhookAttempt(now, null, reason, 0), WebhookDeliveryStatus.Failed, keep);
                }
            }
        }

        return Task.CompletedTask;
    }

    public Task<IReadOnlyList<WebhookDelivery>> DeliveriesAsync(string endpointId, WebhookDeliveryStatus? status, int limit)
    {
        if (!_queues.TryGetValue(endpointId, out var queue))
        {
            return Task.FromResult<IReadOnlyList<WebhookDelivery>>([]);
        }

        lock (queue)
        {
            var pending = queue.Order.Reverse().Select(p => new WebhookDelivery(
                p.Message.WebhookId, p.Message.Type, p.Message.SessionId, p.Message.CreatedAt, WebhookDeliveryStatus.Pending, p.Attempts)
            { NextAttemptAt = p.NextAttemptAt });
            var all = pending.Concat(queue.Finished.Reverse());
            return Task.FromResult<IReadOnlyList<WebhookDelivery>>([.. all.Where(d => status is null || d.Status == status).Take(limit)]);
        }
    }

    public Task<long> BacklogAsync(string endpointId)
    {
        if (!_queues.TryGetValue(endpointId, out var queue))
        {
            return Task.FromResult(0L);
        }

        lock (queue)
        {
            return Task.FromResult((long)queue.Pending.Count);
        }
    }

    public Task DeleteAsync(string endpointId)
    {
        _queues.TryRemove(endpointId, out _);
        return Task.CompletedTask;
    }

    private static void Finish(Queue queue, PendingWebhook pending, WebhookAttempt attempt, WebhookDeliveryStatus status, int keep)
    {
        var id = pending.Message.WebhookId;
        if (queue.Pending.Remove(id, out var node))
        {
            queue.Order.Remove(node);
        }

        queue.Finished.Enqueue(new WebhookDelivery(id, pending.Message.Type, pending.Message.SessionId, pending.Message.CreatedAt, status, pending.Attempts.Add(attempt)));
        queue.FinishedIds.Add(id);
        while (queue.Finished.Count > Math.Min(keep, 100_000) && queue.Finished.TryDequeue(out var old))
        {
            queue.FinishedIds.Remove(old.WebhookId);
        }
    }

    private sealed class Queue
    {
        public Dictionary<string, LinkedListNode<PendingWebhook>> Pending { get; } = [];

        public LinkedList<PendingWebhook> Order { get; } = [];

        public Queue<WebhookDelivery> Finished { get; } = new();

        public HashSet<string> FinishedIds { get; } = [];
    }
}
