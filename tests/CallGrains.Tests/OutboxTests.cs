using CallGrains.Abstractions;
using CallGrains.Grains;
using CallGrains.Grains.Storage;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Storage;
using Orleans.TestingHost;

namespace CallGrains.Tests;

/// <summary>
/// A transition is stored with the updates it owes the parties. When telling a party fails after the transition was
/// stored (its store refuses writes for a while, its silo is dying), the request that won still succeeds, and the
/// party is told later, once, with the seq it would have had.
/// </summary>
public sealed class OutboxTests : IAsyncLifetime
{
    private readonly FlakyStorage _storage = new();
    private InProcessTestCluster _cluster = null!;

    public async Task InitializeAsync()
    {
        var builder = new InProcessTestClusterBuilder(1);
        builder.ConfigureSilo((_, silo) =>
        {
            silo.AddMemoryGrainStorage(StorageNames.PubSub);
            silo.Services.AddKeyedSingleton<IGrainStorage>(StorageNames.Default, (_, _) => _storage);
            silo.AddCallGrains();
            silo.Services.PostConfigure<CallOptions>(ClusterFixture.RaiseQuotas);
        });
        _cluster = builder.Build();
        await _cluster.DeployAsync();
    }

    public async Task DisposeAsync()
    {
        await _cluster.StopAllSilosAsync();
        await _cluster.DisposeAsync();
    }

    [Theory]
    [InlineData("accept")]
    [InlineData("end")]
    [InlineData("reject")]
    public async Task A_party_whose_store_fails_after_the_transition_is_told_later_and_the_winner_succeeds(string action)
    {
        var kit = new CallTestKit(_cluster);
        var (a, b) = await kit.CreatePairAsync();
        var probe = await kit.WatchAsync(a, b);
        var call = action == "end" ? await kit.ConnectAsync(a, b) : await kit.RingAsync(a, b);
        var before = (await kit.SnapshotAsync(a)).Seq;

        // a's store refuses every write: b's action is stored, telling a fails.
        _storage.Fail(a);
        var result = action switch
        {
            "accept" => await kit.Session(call.SessionId).AcceptCall(b, null),
            "end" => await kit.Session(call.SessionId).EndCall(b, null),
            _ => await kit.Session(call.SessionId).RejectCall(b, CallStatus.Rejected, null),
        };
        Assert.True(result.Ok, result.Error?.Message);
        var expected = result.Call!.Status;
        Assert.Equal(expected, (await kit.Session(call.SessionId).Peek())!.Status);

        // The store comes back: the session redelivers, a catches up with one event numbered right after the last.
        await Task.Delay(TimeSpan.FromSeconds(1));
        _storage.Heal(a);
        await CallTestKit.EventuallyAsync(
            async () => (await kit.SnapshotAsync(a)).Seq == before + 1,
            $"{a} told the call is {expected}",
            timeoutMs: 30_000);
        var snapshot = await kit.SnapshotAsync(a);
        Assert.Equal(expected == CallStatus.Ongoing ? call.SessionId : null, snapshot.ActiveCall?.SessionId);
        await probe.WaitForAsync(a, (int)(before + 1));
        var told = probe.For(a)[^1];
        Assert.Equal(before + 1, told.Seq);
        Assert.Equal(expected, told.Call!.Status);
        await EventProbe.SettleAsync();
        GatewayDeathTests.AssertNumberedOnce(probe.For(a));
        await kit.AssertConsistentAsync([a, b], [call.SessionId]);
    }
}
