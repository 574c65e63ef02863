using CallGrains.Abstractions;
using CallGrains.Grains;
using CallGrains.Grains.History;
using CallGrains.Grains.Storage;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Storage;
using Orleans.TestingHost;

namespace CallGrains.Tests;

/// <summary>
/// A settled call leaves grain storage: its final state moves into the parties' histories (written once, after the
/// final events, off the request that settled it), and a late request on it still gets the error its status calls for.
/// </summary>
public sealed class ArchiveTests : IAsyncLifetime
{
    private readonly FlakyStorage _storage = new();
    private readonly FlakyCallLog _log = new();
    private InProcessTestCluster _cluster = null!;
    private CallTestKit _kit = null!;

    public async Task InitializeAsync()
    {
        var builder = new InProcessTestClusterBuilder(1);
        builder.ConfigureSilo((_, silo) =>
        {
            silo.AddMemoryGrainStorage(StorageNames.PubSub);
            silo.Services.AddKeyedSingleton<IGrainStorage>(StorageNames.Default, (_, _) => _storage);
            silo.Services.AddSingleton<ICallLog>(sp => _log.Over(ActivatorUtilities.CreateInstance<MemoryCallLog>(sp)));
            silo.AddCallGrains();
            silo.Services.PostConfigure<CallOptions>(ClusterFixture.RaiseQuotas);
        });
        _cluster = builder.Build();
        await _cluster.DeployAsync();
        _kit = new CallTestKit(_cluster);
    }

    public async Task DisposeAsync()
    {
        await _cluster.StopAllSilosAsync();
        await _cluster.DisposeAsync();
    }

    [Fact]
    public async Task Settled_calls_leave_grain_storage_and_each_party_has_one_entry()
    {
        var (a, b) = await _kit.CreatePairAsync();
        var c = (await _kit.CreateUsersAsync(1, "busy"))[0];
        // A few milliseconds apart: the log orders by the millisecond a call started.
        var ended = await _kit.ConnectAsync(a, b);
        Assert.True((await _kit.Session(ended.SessionId).EndCall(a, null)).Ok);
        await Task.Delay(5);
        var rejected = await _kit.RingAsync(a, b);
        Assert.True((await _kit.Session(rejected.SessionId).RejectCall(b, CallStatus.Rejected, null)).Ok);
        await Task.Delay(5);
        var cancelled = await _kit.RingAsync(b, a);
        Assert.True((await _kit.Session(cancelled.SessionId).RejectCall(b, CallStatus.Cancelled, null)).Ok);
        await Task.Delay(5);
        var ongoing = await _kit.ConnectAsync(a, c);
        var busy = await _kit.CallAsync(b, a);
        Assert.Equal(CallErrorCode.CallBusy, busy.Error?.Code);

        string[] settled = [ended.SessionId, rejected.SessionId, cancelled.SessionId, busy.Call!.SessionId];
        await CallTestKit.EventuallyAsync(
            async () => (await IdsAsync(b)).Count == settled.Length && (await IdsAsync(a)).Count == settled.Length,
            "every settled call in both histories");

        // Only the live call is stored; the settled ones are history, once each, newest first.
        Assert.Equal(1, _storage.Count("callsession"));
        Assert.Equal(settled.Reverse(), await IdsAsync(a));
        Assert.Equal(settled.Reverse(), await IdsAsync(b));
        var page = await _log.QueryAsync(b, new CallLogQuery());
        Assert.Equal(
            [(CallDirection.Outgoing, false), (CallDirection.Outgoing, false), (CallDirection.Incoming, false), (CallDirection.Incoming, false)],
            page.Entries.Select(e => (e.Direction, e.Missed)));
        var missedByA = (await _log.QueryAsync(a, new CallLogQuery { Missed = true })).Entries.Select(e => e.Call.SessionId);
        // a missed b's cancelled call and b's attempt while a was busy; b missed nothing (b declined a's call).
        Assert.Equal([busy.Call.SessionId, cancelled.SessionId], missedByA);
        Assert.Empty((await _log.QueryAsync(b, new CallLogQuery { Missed = true })).Entries);
        Assert.NotNull(ongoing);
    }

    [Fact]
    public async Task Late_requests_on_an_archived_call_get_the_error_of_its_final_status()
    {
        var (a, b) = await _kit.CreatePairAsync();
        var stranger = (await _kit.CreateUsersAsync(1, "x"))[0];
        var ended = await _kit.ConnectAsync(a, b);
        Assert.True((await _kit.Session(ended.SessionId).EndCall(b, null)).Ok);
        var rejected = await _kit.RingAsync(a, b);
        Assert.True((await _kit.Session(rejected.SessionId).RejectCall(b, CallStatus.Rejected, null)).Ok);
        await CallTestKit.EventuallyAsync(async () => _storage.Count("callsession") == 0, "both calls archived");

        Assert.Equal(CallErrorCode.CallEnded, (await _kit.Session(ended.SessionId).EndCall(a, null)).Error?.Code);
        Assert.Equal(CallErrorCode.CallEnded, (await _kit.Session(ended.SessionId).AcceptCall(b, null)).Error?.Code);
        Assert.Equal(CallErrorCode.CallRejected, (await _kit.Session(rejected.SessionId).RejectCall(a, CallStatus.Cancelled, null)).Error?.Code);
        Assert.Equal(CallErrorCode.CallRejected, (await _kit.Session(rejected.SessionId).AcceptCall(b, null)).Error?.Code);
        var read = await _kit.Session(ended.SessionId).GetCall(a);
        Assert.True(read.Ok);
        Assert.Equal(CallStatus.Ended, read.Call!.Status);
        Assert.Equal(CallErrorCode.PermissionDenied, (await _kit.Session(ended.SessionId).GetCall(stranger)).Error?.Code);
        Assert.Equal(CallErrorCode.CallNotFound, (await _kit.Session(Identifiers.NewSessionId()).GetCall(a)).Error?.Code);

        // Answering them stored nothing again.
        Assert.Equal(0, _storage.Count("callsession"));
        await _kit.AssertFreeAsync(a, b);
    }

    [Fact]
    public async Task Many_late_requests_at_once_on_an_archived_call_are_all_answered()
    {
        var (a, b) = await _kit.CreatePairAsync();
        var calls = new List<string>();
        for (var i = 0; i < 5; i++)
        {
            var call = await _kit.ConnectAsync(a, b);
            Assert.True((await _kit.Session(call.SessionId).EndCall(a, null)).Ok);
            calls.Add(call.SessionId);
        }

        await CallTestKit.EventuallyAsync(async () => _storage.Count("callsession") == 0, "the calls archived");

        // Each archived call is woken by many requests at once: every one is answered from the record, none is lost
        // between short-lived activations.
        var answers = await Task.WhenAll(calls.SelectMany(id => Enumerable.Range(0, 30).Select(i =>
            i % 3 == 0 ? _kit.Session(id).AcceptCall(b, null) : i % 3 == 1 ? _kit.Session(id).EndCall(a, null) : _kit.Session(id).GetCall(b))));
        Assert.All(answers, r => Assert.True(r.Ok ? r.Call!.Status == CallStatus.Ended : r.Error!.Code == CallErrorCode.CallEnded, r.Error?.Message));
        Assert.Equal(0, _storage.Count("callsession"));
    }

    [Fact]
    public async Task A_call_whose_history_write_fails_stays_stored_until_the_store_takes_it()
    {
        var (a, b) = await _kit.CreatePairAsync();
        var call = await _kit.ConnectAsync(a, b);
        _log.Failing = true;
        Assert.True((await _kit.Session(call.SessionId).EndCall(a, null)).Ok);

        // The write is retried every 2 s; meanwhile the call stays stored and both users are free.
        await Task.Delay(TimeSpan.FromSeconds(3));
        Assert.True(_log.Refused > 0, "the archive was attempted");
        Assert.Equal(1, _storage.Count("callsession"));
        Assert.Empty(await IdsAsync(a));
        await _kit.AssertFreeAsync(a, b);

        _log.Failing = false;
        await CallTestKit.EventuallyAsync(async () => _storage.Count("callsession") == 0, "the call archived once the store is back");
        Assert.Equal([call.SessionId], await IdsAsync(a));
        Assert.Equal([call.SessionId], await IdsAsync(b));
    }

    [Fact]
    public async Task A_repair_that_reaches_a_settled_call_before_its_history_write_does_not_lose_it()
    {
        var (a, b) = await _kit.CreatePairAsync();
        var call = await _kit.ConnectAsync(a, b);
        _log.Failing = true;
        Assert.True((await _kit.Session(call.SessionId).EndCall(a, null)).Ok);
        await CallTestKit.EventuallyAsync(() => Task.FromResult(_log.Refused > 0), "the archive attempted");

        // Another call repairing a slot asks this settled call to reconcile its parties; the call used to deactivate
        // then, and with no durable wake-up in the embedded default its history write was never tried again.
        Assert.Equal(CallStatus.Ended, (await _kit.Session(call.SessionId).Reconcile(a))!.Status);
        Assert.Equal(CallStatus.Ended, (await _kit.Session(call.SessionId).Reconcile(b))!.Status);
        await Task.Delay(TimeSpan.FromSeconds(1));
        _log.Failing = false;

        // The two histories are written in parallel: each is waited for, then holds the call exactly once.
        await CallTestKit.EventuallyAsync(async () => (await IdsAsync(a)).Contains(call.SessionId), "the call in a's history");
        await CallTestKit.EventuallyAsync(async () => (await IdsAsync(b)).Contains(call.SessionId), "the call in b's history");
        Assert.Equal([call.SessionId], await IdsAsync(a));
        Assert.Equal([call.SessionId], await IdsAsync(b));
        await CallTestKit.EventuallyAsync(async () => _storage.Count("callsession") == 0, "the call left grain storage");
    }

    private async Task<List<string>> IdsAsync(string uid) =>
        [.. (await _log.QueryAsync(uid, new CallLogQuery { Limit = CallHistory.MaxPageSize })).Entries.Select(e => e.Call.SessionId)];

    /// <summary>The memory call log, refusing writes while <see cref="Failing"/> as a store that is briefly unreachable.</summary>
    private sealed class FlakyCallLog : ICallLog
    {
        private ICallLog _inner = null!;
        private int _refused;

        public volatile bool Failing;

        public int Refused => Volatile.Read(ref _refused);

        public FlakyCallLog Over(ICallLog inner)
        {
            _inner = inner;
            return this;
        }

        public Task AppendAsync(CallInfo settled)
        {
            if (Failing)
            {
                Interlocked.Increment(ref _refused);
                throw new IOException("call log unreachable");
            }

            return _inner.AppendAsync(settled);
        }

        public Task<CallLogPage> QueryAsync(string uid, CallLogQuery query) => _inner.QueryAsync(uid, query);

        public Task<CallInfo?> FindAsync(string sessionId) => _inner.FindAsync(sessionId);
    }
}

/// <summary>The embedded default's grain state: what a settled call leaves behind in it is nothing.</summary>
[Collection(ClusterGroup.Name)]
public sealed class MemoryStoreTests(ClusterFixture fixture)
{
    [Fact]
    public async Task Settled_calls_leave_nothing_in_the_embedded_store()
    {
        var kit = new CallTestKit(fixture.Cluster);
        var users = await kit.CreateUsersAsync(6, "ms");
        var calls = new List<string>();
        for (var i = 0; i < 20; i++)
        {
            var call = await kit.ConnectAsync(users[i % 3], users[3 + (i % 3)]);
            Assert.True((await kit.Session(call.SessionId).EndCall(users[i % 3], null)).Ok);
            calls.Add(call.SessionId);
        }

        var live = await kit.ConnectAsync(users[0], users[3]);
        await CallTestKit.EventuallyAsync(
            async () => (await StoredAsync(fixture, calls)) == 0 && (await StoredAsync(fixture, [live.SessionId])) == 1,
            "only the live call stored");

        // Still answered, from the record.
        Assert.Equal(CallStatus.Ended, (await kit.Session(calls[0]).GetCall(users[0])).Call!.Status);
    }

    [Fact]
    public async Task A_state_written_through_one_silo_is_read_through_the_other_and_a_mutable_one_is_a_copy()
    {
        var run = Guid.NewGuid().ToString("N")[..8];

        // Enough keys that both silos write to shards placed on either silo (kept by reference there, or sent over).
        for (var i = 0; i < 2 * MemoryGrainStore.Shards; i++)
        {
            var id = GrainId.Create("test", $"ms-{run}-{i}");
            var written = new GrainState<UserRef>(new UserRef($"u{i}", $"name {i}"));
            await Store(i % 2).WriteStateAsync("s", id, written);

            var read = new GrainState<UserRef>();
            await Store((i + 1) % 2).ReadStateAsync("s", id, read);
            Assert.True(read.RecordExists);
            Assert.Equal(written.State, read.State);
            Assert.Equal(written.ETag, read.ETag);

            // A writer with an old etag is refused, wherever it writes from.
            await Store(i % 2).WriteStateAsync("s", id, new GrainState<UserRef>(new UserRef("x", "x")) { ETag = read.ETag });
            await Assert.ThrowsAsync<InconsistentStateException>(() => Store((i + 1) % 2).WriteStateAsync("s", id, read));

            // A state of a type not marked immutable is serialized: changing the object after the write changes nothing stored.
            List<string> items = ["before"];
            await Store(i % 2).WriteStateAsync("m", id, new GrainState<List<string>>(items));
            items.Add("after");
            var back = new GrainState<List<string>>();
            await Store(i % 2).ReadStateAsync("m", id, back);
            Assert.Equal(["before"], back.State);
        }
    }

    private IGrainStorage Store(int silo) =>
        fixture.Cluster.Silos[silo].ServiceProvider.GetRequiredKeyedService<IGrainStorage>(StorageNames.Default);

    private static async Task<int> StoredAsync(ClusterFixture fixture, IEnumerable<string> sessionIds)
    {
        var stored = 0;
        foreach (var id in sessionIds)
        {
            var key = $"callsession/{id}/";
            stored += await fixture.Cluster.Client.GetGrain<IMemoryStoreGrain>(Fnv.Hash(key + "call") % MemoryGrainStore.Shards).Count(key);
        }

        return stored;
    }
}
