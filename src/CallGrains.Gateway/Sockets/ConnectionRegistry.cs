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
    private int _count;

    public int Count => Volatile.Read(ref _count);

    /// <summary>Users with at least one connection here.</summary>
    public int Users => _byUser.Count;

    /// <summary>Adds a connection; an older connection of the same device is closed (4000) and returned.</summary>
    public Connection? Add(Connection connection)
    {
        Connection? replaced = null;
        _byUser.AddOrUpdate(
            connection.Uid,
            _ => [connection],
            (_, list) =>
            {
                replaced = list.FirstOrDefault(c => c.DeviceId == connection.DeviceId);
                return (replaced is null ? list : list.Remove(replaced)).Add(connection);
            });
        if (replaced is not null)
        {
            replaced.Replaced = true;
            replaced.Close(CloseCodes.Replaced, "replaced by a newer connection of this device");
        }
        else
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
        var connections = For(delivery.Uid);
        if (connections.IsEmpty)
        {
            return Task.CompletedTask;
        }

        if (delivery.CloseCode is { } code)
        {
            foreach (var c in connections.Where(c => delivery.IsFor(c.DeviceId) && c.TokenGeneration < (delivery.BelowGeneration ?? long.MaxValue)))
            {
                c.Close((WebSocketCloseStatus)code, "auth token revoked");
            }

            return Task.CompletedTask;
        }

        byte[]? message = null;
        foreach (var c in connections)
        {
            // A numbered event this device has seen already (its welcome, a response or the event itself came first) is
            // not sent twice: redelivery after a failure repeats an event with the seq it was given.
            if (delivery.IsFor(c.DeviceId) && (!delivery.Numbered || delivery.Event!.Seq > c.Seq))
            {
                message ??= Wire.Event(delivery.Event!);
                c.SawSeq(delivery.Event!.Seq);
                c.Send(message);
            }
        }

        return Task.CompletedTask;
    }

    public IEnumerable<Connection> All() => _byUser.Values.SelectMany(list => list);

    /// <summary>The sockets of a user here, for the user grain's check of its devices.</summary>
    public ImmutableArray<HeldDevice> Held(string uid) => [.. For(uid).Where(c => !c.IsClosing).Select(c => new HeldDevice(c.DeviceId, c.Epoch))];
}
