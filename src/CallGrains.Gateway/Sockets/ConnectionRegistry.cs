using System.Collections.Concurrent;
using System.Collections.Immutable;
using System.Net.WebSockets;
using CallGrains.Abstractions;
using CallGrains.Gateway.Protocol;

namespace CallGrains.Gateway.Sockets;

/// <summary>The sockets this gateway holds, by user; where events arriving on the gateway's stream are fanned out.</summary>
public sealed class ConnectionRegistry(GatewayMetrics metrics) : IDeviceDirectory
{
    private readonly ConcurrentDictionary<string, ImmutableArray<Connection>> _byUser = new();

    // Devices being admitted (see Arrival), changed under _arrivalSync only; _arrivingCount lets a delivery skip the
    // lock when none is.
    private readonly ConcurrentDictionary<string, ImmutableArray<Arrival>> _arriving = new(StringComparer.Ordinal);
    private readonly Lock _arrivalSync = new();
    private int _arrivingCount;
    private int _count;

    public int Count => Volatile.Read(ref _count);

    /// <summary>Users with at least one connection here.</summary>
    public int Users => _byUser.Count;

    /// <summary>
    /// Starts keeping what arrives for a device about to register with its user grain, until its socket joins with
    /// <see cref="Add(Connection, Arrival)"/>. Between the registration and the join (the snapshot checked for the
    /// welcome, the upgrade) the user grain already publishes here; without this, an event of that moment (an
    /// incoming call) found no socket, and the device only learnt of it from a gap at the next event.
    /// </summary>
    public Arrival Expect(string uid, string deviceId)
    {
        var arrival = new Arrival(this, uid, deviceId);
        lock (_arrivalSync)
        {
            _arriving[uid] = _arriving.TryGetValue(uid, out var list) ? list.Add(arrival) : [arrival];
            Interlocked.Increment(ref _arrivingCount);
        }

        return arrival;
    }

    /// <summary>
    /// Adds the socket of an arrival and sends it, after its welcome, what came for it meanwhile (seq not above the
    /// welcome's is skipped). Under the arrivals' lock, so a delivery either was kept or finds the connection, never
    /// neither, never both, and the kept ones go first.
    /// </summary>
    public Connection? Add(Connection connection, Arrival arrival)
    {
        lock (_arrivalSync)
        {
            var replaced = Add(connection);
            if (Forget(arrival) is { } kept)
            {
                byte[]? message = null;
                foreach (var delivery in kept)
                {
                    DeliverTo(connection, delivery, ref message);
                    message = null;
                }
            }

            return replaced;
        }
    }

    /// <summary>
    /// Adds a connection; of two connections of one device the one with the older registration (lower epoch) is closed
    /// (4000) and returned, whichever joins last: two sockets racing in keep the one the user grain holds.
    /// </summary>
    public Connection? Add(Connection connection)
    {
        Connection? replaced = null;
        _byUser.AddOrUpdate(
            connection.Uid,
            _ => [connection],
            (_, list) =>
            {
                var existing = list.FirstOrDefault(c => c.DeviceId == connection.DeviceId);
                if (existing is not null && existing.Epoch > connection.Epoch)
                {
                    replaced = connection;
                    return list;
                }

                replaced = existing;
                return (existing is null ? list : list.Remove(existing)).Add(connection);
            });
        if (replaced is not null)
        {
            replaced.Replaced = true;
            replaced.Close(CloseCodes.Replaced, "replaced by a newer connection of this device");
        }

        if (replaced is null)
        {
            Interlocked.Increment(ref _count);
            metrics.ConnectionOpened();
        }

        return replaced;
    }

    /// <summary>
    /// Removes a connection; a user whose last connection goes is forgotten. The swap compares the array this call
    /// read (ImmutableArray equality is by reference), so a connection added meanwhile is never lost.
    /// </summary>
    public void Remove(Connection connection)
    {
        while (_byUser.TryGetValue(connection.Uid, out var list))
        {
            var index = list.IndexOf(connection);
            if (index < 0)
            {
                return;
            }

            var rest = list.RemoveAt(index);
            var swapped = rest.IsEmpty
                ? _byUser.TryRemove(new KeyValuePair<string, ImmutableArray<Connection>>(connection.Uid, list))
                : _byUser.TryUpdate(connection.Uid, rest, list);
            if (swapped)
            {
                Interlocked.Decrement(ref _count);
                metrics.ConnectionClosed();
                return;
            }
        }
    }

    public ImmutableArray<Connection> For(string uid) => _byUser.TryGetValue(uid, out var list) ? list : [];

    /// <summary>Hands one delivery from the gateway stream to the user's sockets here.</summary>
    public Task DeliverAsync(GatewayDelivery delivery)
    {
        ImmutableArray<Connection> connections;
        if (Volatile.Read(ref _arrivingCount) > 0 && _arriving.ContainsKey(delivery.Uid))
        {
            lock (_arrivalSync)
            {
                connections = For(delivery.Uid);
                if (_arriving.TryGetValue(delivery.Uid, out var arrivals))
                {
                    foreach (var arrival in arrivals)
                    {
                        arrival.Keep(delivery);
                    }
                }
            }
        }
        else
        {
            connections = For(delivery.Uid);
        }

        byte[]? message = null;
        foreach (var c in connections)
        {
            DeliverTo(c, delivery, ref message);
        }

        return Task.CompletedTask;
    }

    private static void DeliverTo(Connection c, GatewayDelivery delivery, ref byte[]? message)
    {
        if (!delivery.IsFor(c.DeviceId))
        {
            return;
        }

        if (delivery.CloseCode is { } code)
        {
            if (c.TokenGeneration < (delivery.BelowGeneration ?? long.MaxValue))
            {
                c.Close((WebSocketCloseStatus)code, "auth token revoked");
            }

            return;
        }

        // A numbered event this device has seen already (its welcome, a response or the event itself came first) is
        // not sent twice: redelivery after a failure repeats an event with the seq it was given.
        if (!delivery.Numbered || delivery.Event!.Seq > c.Seq)
        {
            message ??= Wire.Event(delivery.Event!);
            c.SawSeq(delivery.Event!.Seq);
            c.Send(message);
        }
    }

    /// <summary>Stops keeping deliveries for an arrival; returns what was kept, or null if it was forgotten before.</summary>
    private List<GatewayDelivery>? Forget(Arrival arrival)
    {
        lock (_arrivalSync)
        {
            if (!_arriving.TryGetValue(arrival.Uid, out var list) || list.IndexOf(arrival) < 0)
            {
                return null;
            }

            var rest = list.Remove(arrival);
            if (rest.IsEmpty)
            {
                _arriving.TryRemove(arrival.Uid, out _);
            }
            else
            {
                _arriving[arrival.Uid] = rest;
            }

            Interlocked.Decrement(ref _arrivingCount);
            return arrival.TakeKept();
        }
    }

    public IEnumerable<Connection> All() => _byUser.Values.SelectMany(list => list);

    /// <summary>The sockets of a user here, for the user grain's check of its devices.</summary>
    public ImmutableArray<HeldDevice> Held(string uid) => [.. For(uid).Where(c => !c.IsClosing).Select(c => new HeldDevice(c.DeviceId, c.Epoch))];

    /// <summary>
    /// A device between its registration with the user grain and its socket joining the registry. Keeps at most
    /// <see cref="MaxKept"/> deliveries for it (an admission takes a few grain calls, so a handful at most is normal);
    /// past that the device sees a gap in seq and asks for <c>sync</c>, as after any lost event. Disposing it
    /// (the admission failed) forgets it and what it kept.
    /// </summary>
    public sealed class Arrival(ConnectionRegistry registry, string uid, string deviceId) : IDisposable
    {
        public const int MaxKept = 64;

        public string Uid { get; } = uid;

        public string DeviceId { get; } = deviceId;

        /// <summary>Guarded by the registry's arrivals' lock.</summary>
        private List<GatewayDelivery>? Kept { get; set; }

        internal void Keep(GatewayDelivery delivery)
        {
            if (delivery.IsFor(DeviceId) && (Kept ??= []).Count < MaxKept)
            {
                Kept.Add(delivery);
            }
        }

        public void Dispose() => registry.Forget(this);

        /// <summary>
        /// What was kept, let go of here: the handshake's locals (this arrival among them) can stay reachable while the
        /// socket lives, and an idle socket must not hold the deliveries of its admission.
        /// </summary>
        internal List<GatewayDelivery> TakeKept()
        {
            var kept = Kept ?? [];
            Kept = null;
            return kept;
        }
    }
}
