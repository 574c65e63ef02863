using System.Text.Json;
using CallGrains.Gateway.Tests;

namespace CallGrains.Cluster.Tests;

/// <summary>
/// One simulated user of the chaos test: the sockets they held over time (the ground truth of presence: the test
/// knows when each of its sockets was open) and what the test lets them do.
/// </summary>
internal sealed class ChaosActor(string uid, string token, bool isProbe)
{
    private readonly List<(WsClient Socket, int Host)> _sockets = [];

    public string Uid { get; } = uid;

    public string Token { get; } = token;

    /// <summary>Probe users measure and check; they take no part in the random operations.</summary>
    public bool IsProbe { get; } = isProbe;

    /// <summary>Held by whoever acts for this user (a worker, a reconnect), so each user does one thing at a time.</summary>
    public SemaphoreSlim Gate { get; } = new(1, 1);

    /// <summary>Gone for good: never reconnects, is never called by the workers.</summary>
    public bool Vanished { get; set; }

    /// <summary>A peer whose final event is being timed: does nothing until it has it.</summary>
    public bool Frozen { get; set; }

    public WsClient? Client
    {
        get
        {
            lock (_sockets)
            {
                return _sockets.Count == 0 ? null : _sockets[^1].Socket;
            }
        }
    }

    public int Host
    {
        get
        {
            lock (_sockets)
            {
                return _sockets.Count == 0 ? -1 : _sockets[^1].Host;
            }
        }
    }

    public IReadOnlyList<(WsClient Socket, int Host)> Sockets
    {
        get
        {
            lock (_sockets)
            {
                return [.. _sockets];
            }
        }
    }

    public bool Present => Client is { ClosedAt: null };

    /// <summary>How long the user has had no open socket; null while one is open.</summary>
    public TimeSpan? AbsentFor(DateTime now) => Present ? null : now - (Client?.ClosedAt ?? DateTime.MinValue);

    public void Attach(WsClient socket, int host)
    {
        lock (_sockets)
        {
            _sockets.Add((socket, host));
        }
    }

    /// <summary>The calls this user's current socket last saw live, as (sessionId, status, whether they are the caller).</summary>
    public IReadOnlyList<(string SessionId, string Status, bool IsCaller)> LiveCalls()
    {
        if (Client is not { } client)
        {
            return [];
        }

        var last = new Dictionary<string, JsonElement>();
        var order = new List<string>();
        foreach (var message in client.Log)
        {
            foreach (var call in ChaosRules.CallsIn(message))
            {
                var id = call.Str("sessionId");
                if (last.TryAdd(id, call))
                {
                    order.Add(id);
                }
                else
                {
                    last[id] = call;
                }
            }
        }

        return [.. order.Select(id => last[id])
            .Where(c => !ChaosRules.IsFinal(c.Str("status")))
            .Select(c => (c.Str("sessionId"), c.Str("status"), c.GetProperty("initiator").Str("uid") == Uid))];
    }
}
