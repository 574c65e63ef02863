using System.Collections.Concurrent;
using CallGrains.Abstractions;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Streams;
using Orleans.TestingHost;

namespace CallGrains.Tests;

/// <summary>What tests do with the cluster: make users, place calls, watch what each device is told.</summary>
public sealed class CallTestKit(InProcessTestCluster cluster)
{
    private readonly IClusterClient _client = cluster.Client;

    public const int LongTimeout = 60;

    public IClusterClient Client => _client;

    /// <summary>The gateway id of each running silo.</summary>
    public string[] GatewayIds => [.. cluster.Silos.Select(s => s.ServiceProvider.GetRequiredService<GatewayIdentity>().Id)];

    public IUserGrain User(string uid) => _client.GetGrain<IUserGrain>(uid);

    /// <summary>The same user grain through the methods only sessions call, for tests that stand in for a session.</summary>
    public IUserSlotGrain Slot(string uid) => _client.GetGrain<IUserSlotGrain>(uid);

    public ICallSessionGrain Session(string sessionId) => _client.GetGrain<ICallSessionGrain>(sessionId);

    /// <summary>Creates users with fresh uids (the cluster is shared between tests).</summary>
    public async Task<string[]> CreateUsersAsync(int count, string prefix = "u")
    {
        var run = Guid.NewGuid().ToString("N")[..8];
        var uids = Enumerable.Range(0, count).Select(i => $"{prefix}{i}-{run}").ToArray();
        foreach (var uid in uids)
        {
            Assert.True(await User(uid).Create($"User {uid}"));
        }

        return uids;
    }

    public async Task<(string A, string B)> CreatePairAsync()
    {
        var uids = await CreateUsersAsync(2);
        return (uids[0], uids[1]);
    }

    public async Task AssertFreeAsync(params string[] uids)
    {
        foreach (var uid in uids)
        {
            var snap = await SnapshotAsync(uid);
            Assert.True(snap.ActiveCall is null && snap.Ringing.IsEmpty, $"{uid} still holds a call");
        }
    }

    /// <summary>
    /// Waits until every user is free. A session reads settled once its transition is stored, while the releases it
    /// owes the parties are still on their way, so a settle observed from outside the call is followed by this.
    /// </summary>
    public Task EventuallyFreeAsync(params string[] uids) =>
        EventuallyAsync(async () =>
        {
            foreach (var uid in uids)
            {
                var snap = await SnapshotAsync(uid);
                if (snap.ActiveCall is not null || !snap.Ringing.IsEmpty)
                {
                    return false;
                }
            }

            return true;
        }, $"{string.Join(", ", uids)} free of every call");

    public Task<CallResult> CallAsync(string caller, string callee, int? timeoutSeconds = LongTimeout, string? deviceId = null, string? sessionId = null) =>
        Session(sessionId ?? Identifiers.NewSessionId()).InitiateCall(new InitiateRequest
        {
            CallerUid = caller,
            ReceiverId = callee,
            ReceiverType = ReceiverType.User,
            CallType = CallType.Audio,
            TimeoutSeconds = timeoutSeconds,
            DeviceId = deviceId,
        });

    public Task<CallResult> GroupCallAsync(string groupId, string caller) => GroupCallAsyncFor(groupId, caller);

    /// <summary>The call history of the first silo (the store every silo shares).</summary>
    public ICallLog Log => cluster.Silos[0].ServiceProvider.GetRequiredService<ICallLog>();

    public async Task EndAsync(string sessionId, string uid)
    {
        var ended = await Session(sessionId).EndCall(uid, null);
        Assert.True(ended.Ok, ended.Error?.Message);
    }

    private Task<CallResult> GroupCallAsyncFor(string groupId, string caller) =>
        Session(Identifiers.NewSessionId()).InitiateCall(new InitiateRequest
        {
            CallerUid = caller,
            ReceiverId = groupId,
            ReceiverType = ReceiverType.Group,
            CallType = CallType.Video,
            TimeoutSeconds = LongTimeout,
        });

    public async Task<CallInfo> RingAsync(string caller, string callee, int? timeoutSeconds = LongTimeout)
    {
        var result = await CallAsync(caller, callee, timeoutSeconds);
        Assert.True(result.Ok, result.Error?.Message);
        return result.Call!;
    }

    public async Task<CallInfo> ConnectAsync(string caller, string callee)
    {
        var call = await RingAsync(caller, callee);
        var accepted = await Session(call.SessionId).AcceptCall(callee, null);
        Assert.True(accepted.Ok, accepted.Error?.Message);
        return accepted.Call!;
    }

    public async Task<UserSnapshot> SnapshotAsync(string uid) => (await User(uid).GetSnapshot())!;

    /// <summary>
    /// Stands in for the gateway of the first silo: subscribes to its stream there and registers the given devices
    /// of the given users as connected to it.
    /// </summary>
    public async Task<EventProbe> WatchAsync(params (string Uid, string DeviceId)[] devices)
    {
        var services = cluster.Silos[0].ServiceProvider;
        var probe = new EventProbe(services.GetRequiredService<GatewayIdentity>().Id);
        await probe.SubscribeAsync(services.GetRequiredKeyedService<IStreamProvider>(StreamNames.Provider));
        foreach (var (uid, deviceId) in devices)
        {
            var registration = await User(uid).RegisterDevice(deviceId, probe.GatewayId, 0);
            Assert.Null(registration.Error);
            probe.Devices.Add((uid, deviceId));
            probe.Epochs[(uid, deviceId)] = registration.Epoch;
        }

        return probe;
    }

    public Task<EventProbe> WatchAsync(params string[] uids) => WatchAsync(uids.Select(u => (u, "dev")).ToArray());

    /// <summary>
    /// Checks the invariants over the given users, calls and groups: one call per user, each user's slot agrees with
    /// the call (ringing, in it, or its waiting initiator; for 1:1 calls, a party of it), every live call is held by
    /// everyone in it (ringing members too), and a group has at most one live call, the one the group names.
    /// </summary>
    public async Task AssertConsistentAsync(IEnumerable<string> users, IEnumerable<string>? sessionIds = null, IEnumerable<string>? groupIds = null, string context = "")
    {
        var snapshots = new Dictionary<string, UserSnapshot>();
        foreach (var uid in users)
        {
            snapshots[uid] = await SnapshotAsync(uid);
        }

        foreach (var (uid, snap) in snapshots)
        {
            Assert.True(snap.Ringing.Length + (snap.ActiveCall is null ? 0 : 1) <= 1, $"{context}: {uid} holds two calls");
            if ((snap.ActiveCall ?? snap.Ringing.SingleOrDefault()) is not { } held)
            {
                continue;
            }

            var call = await Session(held.SessionId).Peek();
            Assert.NotNull(call);
            Assert.True(call.Status.IsLive(), $"{context}: {uid} holds {held.SessionId}, which is {call.Status}");
            var ringing = !snap.Ringing.IsEmpty;
            var fits = call.IsGroup
                ? ringing
                    ? call.MemberStatusOf(uid) == MemberStatus.Ringing
                    : call.IsPresent(uid) && (call.Status == CallStatus.Ongoing || uid == call.Initiator.Uid)
                : uid == call.Initiator.Uid || uid == call.ReceiverId;
            Assert.True(fits, $"{context}: {uid} holds {call.SessionId} ({call.Status}) {(ringing ? "ringing" : "as active")} but the call disagrees");
        }

        var liveByGroup = new Dictionary<string, List<string>>();
        foreach (var sessionId in (sessionIds ?? []).Distinct())
        {
            if (await Session(sessionId).Peek() is not { } call || call.Status.IsFinal())
            {
                continue;
            }

            var holders = call.IsGroup
                ? call.Participants.Where(p => p.LeftAt is null).Select(p => p.Uid).Concat(call.Members.Where(m => m.Status == MemberStatus.Ringing).Select(m => m.Uid))
                : [call.Initiator.Uid, call.ReceiverId];
            foreach (var uid in holders)
            {
                var snap = snapshots.TryGetValue(uid, out var s) ? s : await SnapshotAsync(uid);
                Assert.True((snap.ActiveCall ?? snap.Ringing.SingleOrDefault())?.SessionId == sessionId, $"{context}: live call {sessionId} ({call.Status}) is not held by {uid}");
            }

            if (call.IsGroup)
            {
                (liveByGroup.TryGetValue(call.ReceiverId, out var list) ? list : liveByGroup[call.ReceiverId] = []).Add(sessionId);
            }
        }

        foreach (var guid in groupIds ?? [])
        {
            var live = liveByGroup.GetValueOrDefault(guid) ?? [];
            Assert.True(live.Count <= 1, $"{context}: group {guid} has {live.Count} live calls");
            if (live.Count == 1)
            {
                Assert.Equal(live[0], await Client.GetGrain<IGroupGrain>(guid).GetLiveCall());
            }
        }
    }

    public static async Task EventuallyAsync(Func<Task<bool>> condition, string what, int timeoutMs = 30_000)
    {
        var deadline = DateTime.UtcNow.AddMilliseconds(timeoutMs);
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"timed out waiting for: {what}");
            await Task.Delay(25);
        }
    }
}

/// <summary>Stands in for a gateway: collects what each registered device would be sent.</summary>
public sealed class EventProbe(string gatewayId)
{
    private readonly ConcurrentQueue<GatewayDelivery> _deliveries = new();

    public string GatewayId { get; } = gatewayId;

    public List<(string Uid, string DeviceId)> Devices { get; } = [];

    /// <summary>The registration epoch of each device, for unregistering it as its socket would.</summary>
    public Dictionary<(string Uid, string DeviceId), long> Epochs { get; } = [];

    /// <summary>What the gateway does when a device's socket closes.</summary>
    public Task DisconnectAsync(IClusterClient client, string uid, string deviceId = "dev") =>
        client.GetGrain<IUserGrain>(uid).UnregisterDevice(deviceId, GatewayId, Epochs[(uid, deviceId)]);

    public async Task SubscribeAsync(IStreamProvider provider)
    {
        var stream = provider.GetStream<GatewayDelivery>(StreamId.Create(StreamNames.GatewayNamespace, GatewayId));
        await stream.SubscribeAsync((delivery, _) =>
        {
            _deliveries.Enqueue(delivery);
            return Task.CompletedTask;
        });
    }

    /// <summary>The events a device received, in arrival order.</summary>
    public IReadOnlyList<CallEvent> For(string uid, string deviceId = "dev") =>
        _deliveries.Where(d => d.Uid == uid && d.Event is not null && d.IsFor(deviceId)).Select(d => d.Event!).ToList();

    /// <summary>The close orders a user's sockets on this gateway received.</summary>
    public IReadOnlyList<int> ClosesFor(string uid) => _deliveries.Where(d => d.Uid == uid && d.CloseCode is not null).Select(d => d.CloseCode!.Value).ToList();

    public IReadOnlyList<CallEventType> TypesFor(string uid, string deviceId = "dev") => For(uid, deviceId).Select(e => e.Type).ToList();

    public Task WaitForAsync(string uid, int count, string deviceId = "dev", int timeoutMs = 30_000) =>
        CallTestKit.EventuallyAsync(() => Task.FromResult(For(uid, deviceId).Count >= count), $"{count} events for {uid}/{deviceId}", timeoutMs);

    /// <summary>Waits long enough for any stray event to have arrived.</summary>
    public static Task SettleAsync() => Task.Delay(300);
}
