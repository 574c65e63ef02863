using CallGrains.Abstractions;
using CallGrains.Grains.Calls;
using CallGrains.Grains.Deadlines;
using CallGrains.Host.Redis;
using CallGrains.LocalCluster;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using Orleans.Serialization;
using Orleans.Storage;
using StackExchange.Redis;

namespace CallGrains.Tests;

/// <summary>
/// The production grain store, <see cref="RedisGrainStore"/>, against a real redis-server started for the class: a
/// call's state and its wake-up entry change together or not at all, and what Orleans' own Redis storage wrote before
/// an upgrade is read back.
/// </summary>
public sealed class RedisGrainStoreTests : IAsyncLifetime
{
    private static readonly DateTimeOffset Start = new(2026, 12, 2, 12, 0, 0, TimeSpan.Zero);

    private readonly string _service = $"store-{Guid.NewGuid():N}";
    private RedisProcess _redis = null!;
    private ServiceProvider _services = null!;
    private ConnectionMultiplexer _probe = null!;
    private RedisGrainStore _store = null!;

    public async Task InitializeAsync()
    {
        _redis = await RedisProcess.StartAsync();
        _services = new ServiceCollection().AddSerializer(b => b.AddAssembly(typeof(CallInfo).Assembly).AddAssembly(typeof(CallSessionState).Assembly)).BuildServiceProvider();
        _store = Store(_service);
        _probe = await ConnectionMultiplexer.ConnectAsync(_redis.ConnectionString);
    }

    public async Task DisposeAsync()
    {
        await _store.DisposeAsync();
        await _probe.DisposeAsync();
        await _services.DisposeAsync();
        await _redis.DisposeAsync();
    }

    [Fact]
    public async Task A_call_and_its_wake_up_entry_change_together_or_not_at_all()
    {
        var id = GrainId.Create("callsession", Identifiers.NewSessionId());
        var session = id.Key.ToString()!;
        var ringing = Session(session) with { WakeAt = Start.AddSeconds(5) };

        var state = new GrainState<CallSessionState>(ringing);
        await _store.WriteStateAsync("call", id, state);
        Assert.Equal(Start.AddSeconds(5).ToUnixTimeMilliseconds(), await ScoreAsync(session));

        // Moved by the next transition; a write from a stale copy (another activation's etag) changes neither.
        var stale = new GrainState<CallSessionState>(ringing with { WakeAt = Start.AddMinutes(9), Version = 99 }) { ETag = state.ETag };
        state.State = ringing with { WakeAt = Start.AddSeconds(30), Version = 2 };
        await _store.WriteStateAsync("call", id, state);
        await Assert.ThrowsAsync<InconsistentStateException>(() => _store.WriteStateAsync("call", id, stale));
        Assert.Equal(Start.AddSeconds(30).ToUnixTimeMilliseconds(), await ScoreAsync(session));
        var read = new GrainState<CallSessionState>();
        await _store.ReadStateAsync("call", id, read);
        Assert.Equal((2L, Start.AddSeconds(30), state.ETag), (read.State!.Version, read.State.WakeAt, read.ETag));

        // Nothing owed: the entry goes with the write that says so.
        state.State = state.State with { WakeAt = null, Version = 3 };
        await _store.WriteStateAsync("call", id, state);
        Assert.Null(await ScoreAsync(session));

        // Owed again, then archived: the clear takes the state and the entry, and a stale clear is refused.
        state.State = state.State with { WakeAt = Start.AddSeconds(40), Version = 4 };
        await _store.WriteStateAsync("call", id, state);
        await Assert.ThrowsAsync<InconsistentStateException>(() => _store.ClearStateAsync("call", id, new GrainState<CallSessionState>(state.State) { ETag = "old" }));
        Assert.NotNull(await ScoreAsync(session));
        await _store.ClearStateAsync("call", id, state);
        Assert.Null(await ScoreAsync(session));
        Assert.Empty(await KeysAsync($"{_service}/state/*"));
        var gone = new GrainState<CallSessionState>();
        await _store.ReadStateAsync("call", id, gone);
        Assert.False(gone.RecordExists);

        // A state with no wake-up entry (a user) touches no index.
        var user = GrainId.Create("user", "alice");
        await _store.WriteStateAsync("user", user, new GrainState<UserRef>(new UserRef("alice", "Alice")));
        Assert.Equal(0, await _probe.GetDatabase().SortedSetLengthAsync(Index));
    }

    [Fact]
    public async Task States_that_Orleans_redis_storage_wrote_before_an_upgrade_are_read_and_written_on()
    {
        var service = $"upgrade-{Guid.NewGuid():N}";
        await using var orleans = new ServiceCollection()
            .AddLogging()
            .AddSerializer(b => b.AddAssembly(typeof(CallInfo).Assembly).AddAssembly(typeof(CallSessionState).Assembly))
            .Configure<ClusterOptions>(o => o.ServiceId = service)
            .AddSingleton<IGrainStorageSerializer>(sp => new OrleansGrainStorageSerializer(sp.GetRequiredService<Serializer>()))
            .AddRedisGrainStorage("Default", o => o.ConfigurationOptions = ConfigurationOptions.Parse(_redis.ConnectionString))
            .BuildServiceProvider();
        var before = orleans.GetRequiredKeyedService<IGrainStorage>("Default");
        var started = new Lifecycle();
        ((ILifecycleParticipant<ISiloLifecycle>)before).Participate(started);
        await started.StartAsync();

        // What the Orleans storage package writes (with the binary serializer, as CallGrains configured it).
        var id = GrainId.Create("callsession", Identifiers.NewSessionId());
        var written = new GrainState<CallSessionState>(Session(id.Key.ToString()!) with { Version = 7 });
        await before.WriteStateAsync("call", id, written);

        await using var after = Store(service);
        var read = new GrainState<CallSessionState>();
        await after.ReadStateAsync("call", id, read);
        Assert.True(read.RecordExists);
        Assert.Equal((7L, written.State!.Call!.SessionId, written.ETag), (read.State!.Version, read.State.Call!.SessionId, read.ETag));

        // The etag carries over: the next transition is written on top of it, and the old writer is now refused.
        read.State = read.State! with { Version = 8 };
        await after.WriteStateAsync("call", id, read);

        // And back: what CallGrains writes, Orleans' storage reads (a rollback to it loses nothing).
        var reread = new GrainState<CallSessionState>();
        await before.ReadStateAsync("call", id, reread);
        Assert.Equal((8L, read.ETag), (reread.State!.Version, reread.ETag));
        await Assert.ThrowsAnyAsync<Exception>(() => before.WriteStateAsync("call", id, written));
    }

    private RedisKey Index => DeadlineIndexNames.Key(_service, DeadlineIndexNames.Ringing);

    private RedisGrainStore Store(string service) => new(
        "Default",
        RedisSilo.Options(_redis.ConnectionString),
        _services.GetRequiredService<Serializer>(),
        Options.Create(new ClusterOptions { ServiceId = service }));

    private static CallSessionState Session(string sessionId) => new()
    {
        Call = CallRules.NewCall(sessionId, new InitiateRequest { CallerUid = "alice", ReceiverId = "bob" }, 30, Start),
        CalleeUid = "bob",
        RingDeadline = Start.AddSeconds(30),
        Version = 1,
    };

    private async Task<double?> ScoreAsync(string sessionId) => await _probe.GetDatabase().SortedSetScoreAsync(Index, sessionId);

    private async Task<List<string>> KeysAsync(string pattern) =>
        [.. ((RedisResult[])(await _probe.GetDatabase().ExecuteAsync("KEYS", pattern))!).Select(r => r.ToString())];

    /// <summary>The part of a silo's start-up a storage provider takes part in: it connects there.</summary>
    private sealed class Lifecycle : ISiloLifecycle
    {
        private readonly List<ILifecycleObserver> _observers = [];

        public int HighestCompletedStage => ServiceLifecycleStage.Active;

        public int LowestStoppedStage => ServiceLifecycleStage.Active;

        public IDisposable Subscribe(string observerName, int stage, ILifecycleObserver observer)
        {
            _observers.Add(observer);
            return new Unsubscriber();
        }

        public async Task StartAsync()
        {
            foreach (var observer in _observers)
            {
                await observer.OnStart(CancellationToken.None);
            }
        }

        private sealed class Unsubscriber : IDisposable
        {
            public void Dispose()
            {
            }
        }
    }
}
