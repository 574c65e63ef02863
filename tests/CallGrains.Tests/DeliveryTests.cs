using System.Collections.Concurrent;
using System.Diagnostics;
using CallGrains.Abstractions;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Core.Internal;
using Orleans.Streams;

namespace CallGrains.Tests;

/// <summary>How events are numbered and delivered: exactly once per seq, signals outside the numbering.</summary>
[Collection(ClusterGroup.Name)]
public sealed class DeliveryTests(ClusterFixture fixture)
{
    private readonly CallTestKit _kit = new(fixture.Cluster);

    [Fact]
    public async Task A_redelivered_update_keeps_its_seq_and_changes_nothing()
    {
        var (a, b) = await _kit.CreatePairAsync();
        var probe = await _kit.WatchAsync(a, b);
        var call = await _kit.ConnectAsync(a, b);
        var seqBefore = (await _kit.SnapshotAsync(a)).Seq;
        var ended = (await _kit.Session(call.SessionId).EndCall(b, null)).Call!;
        await probe.WaitForAsync(a, 2);
        var endedEvent = probe.For(a)[^1];

        // The session's outbox delivers the end (its third transition) again, as after a crash between storing and
        // telling: the user recognises the version, keeps its seq and repeats the same numbered event, which a gateway
        // drops as already seen.
        Assert.Equal(seqBefore + 1, endedEvent.Seq);
        var session = await _kit.Session(call.SessionId).Peek();
        Assert.Equal(CallStatus.Ended, session!.Status);
        for (var i = 0; i < 3; i++)
        {
            var seq = await _kit.Slot(a).Update(new SlotUpdate
            {
                Call = ended,
                Phase = SlotPhase.Free,
                Event = new CallEvent { Type = CallEventType.CallEndedMessageReceived },
                Version = 3,
            });
            Assert.Equal(seqBefore + 1, seq);
        }

        await EventProbe.SettleAsync();
        Assert.Equal(seqBefore + 1, (await _kit.SnapshotAsync(a)).Seq);
        Assert.All(probe.For(a).Where(e => e.Type == CallEventType.CallEndedMessageReceived), e => Assert.Equal(endedEvent.Seq, e.Seq));
        GatewayDeathTests.AssertNumberedOnce(probe.For(a));
        await _kit.AssertFreeAsync(a, b);
    }

    [Fact]
    public async Task A_stale_redelivery_does_not_move_a_call_back()
    {
        var (a, b) = await _kit.CreatePairAsync();
        var probe = await _kit.WatchAsync(a, b);
        var ringing = await _kit.RingAsync(a, b);
        var ongoing = (await _kit.Session(ringing.SessionId).AcceptCall(b, null)).Call!;
        var seq = (await _kit.SnapshotAsync(b)).Seq;

        // The ringing update (version 1) arrives again after the accept (version 2) was applied.
        await _kit.Slot(b).Update(new SlotUpdate
        {
            Call = ringing,
            Phase = SlotPhase.Ringing,
            Event = new CallEvent { Type = CallEventType.IncomingCallReceived },
            Version = 1,
        });

        var snapshot = await _kit.SnapshotAsync(b);
        Assert.Equal(seq, snapshot.Seq);
        Assert.Equal(ongoing.SessionId, snapshot.ActiveCall?.SessionId);
        Assert.Empty(snapshot.Ringing);
        await EventProbe.SettleAsync();
        Assert.Single(probe.For(b), e => e.Type == CallEventType.IncomingCallReceived);
    }

    [Fact]
    public async Task A_signal_to_one_device_leaves_no_gap_in_the_other_devices_seq()
    {
        var (a, b) = await _kit.CreatePairAsync();
        var probe = await _kit.WatchAsync((a, "dev"), (b, "phone"), (b, "tablet"));
        var call = await _kit.RingAsync(a, b);
        await _kit.Session(call.SessionId).AcceptCall(b, "phone");
        var seq = (await _kit.SnapshotAsync(b)).Seq;

        for (var i = 0; i < 5; i++)
        {
            Assert.True((await _kit.Session(call.SessionId).Signal(a, b, $"{{\"n\":{i}}}")).Ok);
        }

        Assert.Equal(seq, (await _kit.SnapshotAsync(b)).Seq);
        await _kit.Session(call.SessionId).EndCall(a, "dev");

        await probe.WaitForAsync(b, 2, "tablet");
        var tablet = probe.For(b, "tablet");
        Assert.Equal([CallEventType.IncomingCallReceived, CallEventType.IncomingCallCanceled, CallEventType.CallEndedMessageReceived], tablet.Select(e => e.Type));
        Assert.Equal([1L, 2L, 3L], tablet.Select(e => e.Seq));
        await probe.WaitForAsync(b, 7, "phone");
        var signals = probe.For(b, "phone").Where(e => e.Type == CallEventType.Signal).ToList();
        Assert.Equal(5, signals.Count);
        Assert.All(signals, s => Assert.Equal(seq, s.Seq));
    }

    [Fact]
    public async Task A_gateway_that_hangs_delays_the_users_other_devices_by_the_delivery_timeout_only()
    {
        var (a, b) = await _kit.CreatePairAsync();
        var probe = await _kit.WatchAsync(a, b);

        // b also has a device on the second silo's gateway, which takes b's events and never finishes handing them on.
        var slowGateway = _kit.GatewayIds[1];
        var stream = fixture.Cluster.Silos[1].ServiceProvider.GetRequiredKeyedService<IStreamProvider>(StreamNames.Provider)
            .GetStream<GatewayDelivery>(StreamId.Create(StreamNames.GatewayNamespace, slowGateway));
        var hung = new TaskCompletionSource();
        var handle = await stream.SubscribeAsync((delivery, _) => delivery.Uid == b ? hung.Task : Task.CompletedTask);
        try
        {
            Assert.Null((await _kit.User(b).RegisterDevice("tablet", slowGateway, 0)).Error);
            var rang = Stopwatch.StartNew();
            var call = await _kit.RingAsync(a, b);
            var accepted = await _kit.Session(call.SessionId).AcceptCall(b, "dev");
            var took = rang.Elapsed;

            // Two events went to the hung gateway; each cost at most the delivery timeout (2 s), far from Orleans'
            // 30 s response timeout, and the device on the healthy gateway got both at once.
            Assert.True(accepted.Ok, accepted.Error?.Message);
            Assert.True(took < TimeSpan.FromSeconds(20), $"ringing and accepting took {took.TotalSeconds:F1} s");
            await probe.WaitForAsync(b, 1);
            await probe.WaitForAsync(a, 1);
            Assert.Equal(CallStatus.Ongoing, (await _kit.Session(call.SessionId).Peek())!.Status);

            // Slow is not gone: the tablet stays registered.
            Assert.Contains((await _kit.SnapshotAsync(b)).Devices, d => d.DeviceId == "tablet");
        }
        finally
        {
            hung.TrySetResult();
            await handle.UnsubscribeAsync();
        }
    }

    [Fact]
    public async Task An_event_lost_with_the_activation_that_stored_it_reaches_the_device_in_order_when_the_user_is_back()
    {
        var (a, b) = await _kit.CreatePairAsync();

        // b's only device is on the second silo's gateway. What reaches that gateway for b is kept; while `lose` is set
        // it is lost on the way, as a message is when its node is killed before it leaves.
        var gateway = _kit.GatewayIds[1];
        var stream = fixture.Cluster.Silos[1].ServiceProvider.GetRequiredKeyedService<IStreamProvider>(StreamNames.Provider)
            .GetStream<GatewayDelivery>(StreamId.Create(StreamNames.GatewayNamespace, gateway));
        var lose = 1;
        var arrived = new ConcurrentQueue<CallEvent>();
        var handle = await stream.SubscribeAsync((delivery, _) =>
        {
            if (delivery.Uid == b && delivery.Event is { Type: not CallEventType.Signal } e && Volatile.Read(ref lose) == 0)
            {
                arrived.Enqueue(e);
            }

            return Task.CompletedTask;
        });
        try
        {
            Assert.Null((await _kit.User(b).RegisterDevice("phone", gateway, 0)).Error);
            var call = await _kit.RingAsync(a, b);

            // The incoming call (seq 1) is stored with b and lost on its way; then b's activation goes, as with its node.
            await _kit.User(b).AsReference<IGrainManagementExtension>().DeactivateOnIdle();
            var management = _kit.Client.GetGrain<IManagementGrain>(0);
            await CallTestKit.EventuallyAsync(
                async () => !(await management.GetDetailedGrainStatistics()).Any(s => s.GrainId.Key.ToString() == b),
                "b's activation gone");
            Volatile.Write(ref lose, 0);

            // The caller cancels: b comes back for it. Its device gets the lost ring first, then the cancel: no gap.
            Assert.True((await _kit.Session(call.SessionId).RejectCall(a, CallStatus.Cancelled, null)).Ok);
            await CallTestKit.EventuallyAsync(() => Task.FromResult(arrived.Count >= 2), "both of b's events at the phone");
            Assert.Equal(
                [(1L, CallEventType.IncomingCallReceived), (2L, CallEventType.IncomingCallCanceled)],
                arrived.Select(e => (e.Seq, e.Type)));
        }
        finally
        {
            await handle.UnsubscribeAsync();
        }
    }

    [Fact]
    public async Task Looking_up_unknown_session_ids_leaves_no_activations()
    {
        var uid = (await _kit.CreateUsersAsync(1))[0];
        var ids = Enumerable.Range(0, 20).Select(_ => Identifiers.NewSessionId()).ToList();
        foreach (var id in ids)
        {
            Assert.Equal(CallErrorCode.CallNotFound, (await _kit.Session(id).GetCall(uid)).Error?.Code);
            Assert.Equal(CallErrorCode.CallNotFound, (await _kit.Session(id).AcceptCall(uid, null)).Error?.Code);
        }

        var management = _kit.Client.GetGrain<IManagementGrain>(0);
        await CallTestKit.EventuallyAsync(
            async () => !(await management.GetDetailedGrainStatistics()).Any(s => ids.Contains(s.GrainId.Key.ToString()!)),
            "unknown sessions deactivated");
    }

    [Fact]
    public async Task Revocation_close_orders_repeat_until_the_revoked_sockets_are_gone()
    {
        var uid = (await _kit.CreateUsersAsync(1))[0];
        var probe = await _kit.WatchAsync(uid);
        Assert.True(await _kit.User(uid).RevokeTokens());

        // The first order may be lost on its way: while the revoked socket is still registered, it is ordered again.
        await CallTestKit.EventuallyAsync(() => Task.FromResult(probe.ClosesFor(uid).Count >= 2), "a repeated close order", timeoutMs: 30_000);
        await probe.DisconnectAsync(_kit.Client, uid);
        var orders = probe.ClosesFor(uid).Count;
        await Task.Delay(TimeSpan.FromSeconds(12));
        Assert.InRange(probe.ClosesFor(uid).Count, orders, orders + 1);
    }
}
