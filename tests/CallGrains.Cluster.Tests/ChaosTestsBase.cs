using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net.WebSockets;
using System.Text.Json;
using CallGrains.Gateway.Tests;
using CallGrains.Tests.Webhooks;
using Xunit.Abstractions;

namespace CallGrains.Cluster.Tests;

/// <summary>
/// Issue 8, section 6: a standing chaos test on real processes. redis-server and the hosts of one cluster shape
/// (Redis membership and state); 60 users do random operations (call, accept, reject, cancel, end, disconnect and
/// reconnect to another host, vanish for good) while nodes are killed with SIGKILL and restarted. Then the invariants
/// of <see cref="ChaosRules"/> are checked over every user, call and socket. Per kill of a node that holds sockets two
/// times are measured: from the kill until the users whose sockets died with it (and who never came back) can be
/// called again, and until their peers on live nodes were told how their calls ended. Per kill of a grains-only silo
/// (the split shape, issue 23): until requests are answered again. docs/reliability.md describes the method and
/// results. The seed fixes every random choice (not the timing); set CHAOS_SEED to replay another.
/// </summary>
public abstract class ChaosTestsBase(ITestOutputHelper output) : IAsyncLifetime
{
    private const int DefaultSeed = 20261124;
    private const int Users = 60;
    private const int Workers = 4;
    private const int GraceSeconds = 10;
    private const int MaxRandomVanishes = 4;
    private const string WebhookPath = "chaos";

    // Orleans:ProbeTimeoutSeconds 2 x MissedProbesLimit 3, plus the vote: a dead silo is declared dead in 6-10 s.
    private static readonly TimeSpan FailureDetection = TimeSpan.FromSeconds(10);

    // The issue's target: grace + failure detection + 5 s (25 s). Asserted generously, printed as measured.
    private static readonly TimeSpan Target = TimeSpan.FromSeconds(GraceSeconds) + FailureDetection + TimeSpan.FromSeconds(5);
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan Warmup = TimeSpan.FromSeconds(8);
    private static readonly TimeSpan BetweenKills = TimeSpan.FromSeconds(25);
    private static readonly TimeSpan DownFor = TimeSpan.FromSeconds(3);
    private static readonly TimeSpan RandomVanishCutoff = TimeSpan.FromSeconds(40);
    private static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(10);

    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly DateTime _clockStartedAt = DateTime.UtcNow;
    private readonly ConcurrentDictionary<string, int> _ops = new();
    private readonly ConcurrentBag<Violation> _boundViolations = [];
    private readonly ConcurrentBag<Task> _background = [];
    private readonly Lock _randomLock = new();
    private readonly ConcurrentQueue<(TimeSpan At, bool Failed)> _answers = new();
    private readonly ConcurrentDictionary<WsClient, bool> _droppedByTest = new();
    private LocalCluster.Cluster _cluster = null!;
    private WebhookReceiver _receiver = null!;
    private bool[] _up = [];
    private List<ChaosActor> _actors = [];
    private Random _random = null!;
    private Random _plan = null!;
    private int _randomVanishes;
    private int _restarts;
    private TimeSpan _chaosStarted;
    private TimeSpan _clusterStarted;

    /// <summary>The nodes and what runs where, for the log.</summary>
    protected abstract string Shape { get; }

    /// <summary>What the kills hit, in order: a node that holds sockets (co-hosted host or edge), or a grains-only silo.</summary>
    protected abstract IReadOnlyList<KillTarget> Kills { get; }

    /// <summary>Starts the cluster with <paramref name="settings"/>; <see cref="LocalCluster.Cluster.Hosts"/> are the nodes clients connect to.</summary>
    protected abstract Task<LocalCluster.Cluster> StartClusterAsync(string[] settings);

    public async Task InitializeAsync()
    {
        _receiver = await WebhookReceiver.StartAsync();
        _cluster = await StartClusterAsync([.. LocalCluster.LoadSettings.NoCallQuotas, $"--Calls:DisconnectGraceSeconds={GraceSeconds}", "--Webhooks:AllowHttp=true"]);
        _up = [.. _cluster.Hosts.Select(_ => true)];

        // The app's backend hears every call (f): an endpoint for all events, read by every node within 4 s.
        using var admin = new Admin(_cluster.Hosts[0].Url);
        using var created = await admin.SendAsync(HttpMethod.Post, "/v1/webhooks", new { url = _receiver.Url(WebhookPath), events = new[] { "*" } });
        Assert.Equal(System.Net.HttpStatusCode.Created, created.StatusCode);
        await Task.Delay(TimeSpan.FromSeconds(5));
        _clusterStarted = _clock.Elapsed;
    }

    public async Task DisposeAsync()
    {
        var sockets = _actors.SelectMany(a => a.Sockets).Select(s => s.Socket.DisposeAsync().AsTask());
        await Task.WhenAll(sockets).WaitAsync(TimeSpan.FromSeconds(20)).ContinueWith(_ => { }, TaskScheduler.Default);
        await _cluster.DisposeAsync();
        await _receiver.DisposeAsync();
    }

    [Fact]
    public async Task Random_operations_under_kill_9_leave_nobody_busy_and_tell_every_connected_party()
    {
        var seed = int.TryParse(Environment.GetEnvironmentVariable("CHAOS_SEED"), NumberStyles.Integer, CultureInfo.InvariantCulture, out var chosen) ? chosen : DefaultSeed;
        // Kills draw from their own generator, so the plan does not shift with how often the janitor drew meanwhile.
        _plan = new Random(seed);
        _random = new Random(seed + 100);
        Say($"chaos seed {seed} (CHAOS_SEED={seed} replays the random choices; timing still varies)");
        Say($"{Users} users + {Kills.Count + 1} probe users, {Shape}, kills: {string.Join(", ", Kills)}, Calls:DisconnectGraceSeconds={GraceSeconds}, failure detection ~{FailureDetection.TotalSeconds:F0} s, target {Target.TotalSeconds:F0} s, asserted {Limit.TotalSeconds:F0} s");

        using (var admin = new Admin(_cluster.Hosts[0].Url))
        {
            var users = await admin.UsersAsync(Users, "c");
            var probes = await admin.UsersAsync(Kills.Count + 1, "probe");
            _actors = [.. users.Select(u => new ChaosActor(u.Uid, u.Token, isProbe: false)), .. probes.Select(u => new ChaosActor(u.Uid, u.Token, isProbe: true))];
        }

        var everyone = _actors.Where(a => !a.IsProbe).ToList();
        await Parallel.ForEachAsync(Enumerable.Range(0, everyone.Count), new ParallelOptions { MaxDegreeOfParallelism = 6 }, async (i, _) =>
        {
            Assert.True(await ConnectAsync(everyone[i], i % _up.Length, exceptHost: -1), $"{everyone[i].Uid} could not connect");
        });

        using var stop = new CancellationTokenSource();
        _chaosStarted = _clock.Elapsed;
        var workers = Enumerable.Range(0, Workers).Select(w => Task.Run(() => WorkAsync(new Random(seed + 1 + w), stop.Token))).ToList();
        var janitor = Task.Run(() => ReconnectTheAbsentAsync(stop.Token));

        var measurements = new List<Task>();
        for (var k = 0; k < Kills.Count; k++)
        {
            await Task.Delay(k == 0 ? Warmup : BetweenKills);
            measurements.Add(Kills[k] == KillTarget.Silo ? await KillSiloAsync(k) : await KillAsync(k));
        }

        await Task.WhenAll(measurements).WaitAsync(Limit + TimeSpan.FromSeconds(30));
        await stop.CancelAsync();
        await Task.WhenAll(workers).WaitAsync(RequestTimeout * 3);
        await janitor.WaitAsync(TimeSpan.FromSeconds(40));
        await Task.WhenAll(_background).WaitAsync(TimeSpan.FromSeconds(60)).ContinueWith(_ => { }, TaskScheduler.Default);
        Say($"chaos ran {(_clock.Elapsed - _chaosStarted).TotalSeconds:F0} s; checking the invariants");

        var violations = await CheckAsync();
        violations.AddRange(_boundViolations);
        Say($"violations: {violations.Count} ({string.Join(", ", violations.GroupBy(v => v.Rule).OrderBy(g => g.Key).Select(g => $"{g.Key} {g.Count()}"))})");
        foreach (var violation in violations)
        {
            Say($"  {violation}");
        }

        Say($"wall time {_clock.Elapsed.TotalSeconds:F0} s (of which starting the cluster {_clusterStarted.TotalSeconds:F0} s), seed {seed}");
        Assert.True(violations.Count == 0, $"{violations.Count} invariant violations (seed {seed}):\n{string.Join("\n", violations)}");
    }

    /// <summary>Random operations by random users until stopped; each user does one thing at a time.</summary>
    private async Task WorkAsync(Random random, CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            var eligible = _actors.Where(a => !a.IsProbe && !a.Vanished && !a.Frozen && a.Present).ToList();
            var actor = eligible.Count == 0 ? null : eligible[random.Next(eligible.Count)];
            if (actor is not null && actor.Gate.Wait(0, CancellationToken.None))
            {
                try
                {
                    if (!actor.Frozen && !actor.Vanished && actor.Present)
                    {
                        await ActAsync(actor, random);
                    }
                }
                finally
                {
                    actor.Gate.Release();
                }
            }

            await Task.Delay(random.Next(100, 400), CancellationToken.None);
        }
    }

    private async Task ActAsync(ChaosActor actor, Random random)
    {
        var client = actor.Client!;
        var live = actor.LiveCalls();
        var incoming = live.LastOrDefault(c => !c.IsCaller && c.Status == "initiated");
        var outgoing = live.LastOrDefault(c => c.IsCaller && c.Status == "initiated");
        var ongoing = live.LastOrDefault(c => c.Status == "ongoing");
        var roll = random.NextDouble();
        if (roll < 0.03)
        {
            // Dropped: the janitor brings the user back on another host a little later.
            Count("disconnect");
            await DropAsync(client, random);
        }
        else if (roll < 0.04 && _clock.Elapsed - _chaosStarted < RandomVanishCutoff && Interlocked.Increment(ref _randomVanishes) <= MaxRandomVanishes)
        {
            Count("vanish");
            actor.Vanished = true;
            await DropAsync(client, random);
        }
        else if (incoming.SessionId is { } ringing)
        {
            roll = random.NextDouble();
            if (roll < 0.5)
            {
                await RequestAsync("accept", client, "acceptCall", new { sessionId = ringing });
            }
            else if (roll < 0.75)
            {
                await RequestAsync("reject", client, "rejectCall", new { sessionId = ringing, status = random.NextDouble() < 0.7 ? "rejected" : "busy" });
            }
        }
        else if (outgoing.SessionId is { } mine)
        {
            if (random.NextDouble() < 0.3)
            {
                await RequestAsync("cancel", client, "rejectCall", new { sessionId = mine, status = "cancelled" });
            }
        }
        else if (ongoing.SessionId is { } talking)
        {
            if (random.NextDouble() < 0.35)
            {
                await RequestAsync("end", client, "endCall", new { sessionId = talking });
            }
        }
        else if (random.NextDouble() < 0.7 && _actors.Where(a => a != actor && !a.IsProbe && !a.Vanished && !a.Frozen).ToList() is { Count: > 0 } targets)
        {
            var callee = targets[random.Next(targets.Count)];
            await RequestAsync("call", client, "initiateCall", new { receiverId = callee.Uid, receiverType = "user", callType = "audio", timeoutSeconds = random.Next(6, 16) });
        }
    }

    private async Task DropAsync(WsClient client, Random random)
    {
        _droppedByTest[client] = true;
        if (random.NextDouble() < 0.5)
        {
            client.Abort();
        }
        else
        {
            await client.DisposeAsync();
        }
    }

    private async Task<JsonElement?> RequestAsync(string kind, WsClient client, string op, object args)
    {
        var response = await client.TryRequestAsync(op, args, RequestTimeout);
        _answers.Enqueue((_clock.Elapsed, response is not { } answered || (!answered.IsOk() && answered.ErrorCode() == "ERR_INTERNAL")));
        Count(kind);
        Count($"{kind}:{(response is not { } r ? "no response" : r.IsOk() ? "ok" : r.ErrorCode())}");
        return response;
    }

    /// <summary>Brings back, on another live host, every user whose socket dropped and who is not gone for good.</summary>
    private async Task ReconnectTheAbsentAsync(CancellationToken stop)
    {
        var finalDeadline = (DateTime?)null;
        while (true)
        {
            var absent = _actors.Where(a => !a.IsProbe && !a.Vanished && !a.Present && a.Client is not null).ToList();
            if (stop.IsCancellationRequested)
            {
                finalDeadline ??= DateTime.UtcNow.AddSeconds(30);
                if (absent.Count == 0 || DateTime.UtcNow > finalDeadline)
                {
                    return;
                }
            }

            foreach (var actor in absent.Where(a => a.Gate.Wait(0, CancellationToken.None)))
            {
                var delay = TimeSpan.FromMilliseconds(Next(500, 3000));
                _background.Add(ReconnectLaterAsync(actor, delay));
            }

            await Task.Delay(500, CancellationToken.None);
        }
    }

    private async Task ReconnectLaterAsync(ChaosActor actor, TimeSpan delay)
    {
        try
        {
            await Task.Delay(delay);
            if (!actor.Vanished && !actor.Present && await ConnectAsync(actor, -1, exceptHost: actor.Host))
            {
                Count("reconnect");
            }
        }
        finally
        {
            actor.Gate.Release();
        }
    }

    /// <summary>Connects to <paramref name="host"/>, or to a random live host other than <paramref name="exceptHost"/>; retries for 30 s.</summary>
    private async Task<bool> ConnectAsync(ChaosActor actor, int host, int exceptHost)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (DateTime.UtcNow < deadline)
        {
            var candidates = Enumerable.Range(0, _up.Length).Where(h => Volatile.Read(ref _up[h]) && h != exceptHost).ToList();
            if (candidates.Count == 0)
            {
                candidates = [.. Enumerable.Range(0, _up.Length).Where(h => Volatile.Read(ref _up[h]))];
            }

            var chosen = host >= 0 ? host : candidates.Count == 0 ? -1 : candidates[Next(0, candidates.Count)];
            if (chosen >= 0)
            {
                try
                {
                    var client = await WsClient.ConnectAsync(_cluster.Hosts[chosen].Url, actor.Uid, actor.Token, "d").WaitAsync(TimeSpan.FromSeconds(15));
                    actor.Attach(client, chosen);
                    return true;
                }
                catch (Exception ex) when (ex is WebSocketException or InvalidOperationException or TimeoutException or HttpRequestException or IOException)
                {
                }
            }

            await Task.Delay(500);
        }

        Count("reconnect:failed");
        return false;
    }

    /// <summary>
    /// Kills one host with SIGKILL and restarts it after <see cref="DownFor"/>. Of the users whose sockets were on it,
    /// most of those in a call and some others vanish for good; the rest are brought back by the janitor. Returns the
    /// measurement of this kill.
    /// </summary>
    private async Task<Task> KillAsync(int k)
    {
        // A host still holding a peer whose final event is being timed, or the probe of a running measurement, is
        // spared, so one kill does not void the measurement of another.
        var busy = _actors.Where(a => (a.Frozen || a.IsProbe) && a.Present).Select(a => a.Host).ToHashSet();
        var upHosts = Enumerable.Range(0, _up.Length).Where(h => Volatile.Read(ref _up[h])).ToList();
        var eligible = upHosts.Where(h => !busy.Contains(h)).ToList();
        var victim = (eligible.Count > 0 ? eligible : upHosts)[_plan.Next(eligible.Count > 0 ? eligible.Count : upHosts.Count)];
        var probe = _actors.Where(a => a.IsProbe).ElementAt(k);
        Assert.True(await ConnectAsync(probe, -1, exceptHost: victim), $"probe {probe.Uid} could not connect");

        var onVictim = _actors.Where(a => !a.IsProbe && !a.Vanished && a.Present && a.Host == victim).ToList();
        var vanishers = new List<ChaosActor>();
        var watched = new List<(ChaosActor Peer, string SessionId)>();
        foreach (var actor in onVictim)
        {
            var calls = actor.LiveCalls();
            if (_plan.Next(100) < (calls.Count > 0 ? 70 : 30))
            {
                actor.Vanished = true;
                vanishers.Add(actor);
            }
        }

        foreach (var actor in vanishers)
        {
            foreach (var (sessionId, _, _) in actor.LiveCalls())
            {
                var peerUid = PeerOf(actor, sessionId);
                if (_actors.FirstOrDefault(a => a.Uid == peerUid) is { Vanished: false } peer && peer.Present && peer.Host != victim)
                {
                    peer.Frozen = true;
                    watched.Add((peer, sessionId));
                }
            }
        }

        var host = _cluster.Hosts[victim];
        var killedAt = DateTime.UtcNow;
        await host.KillAsync();
        Volatile.Write(ref _up[victim], false);
        Count("kill");
        Say($"kill {k + 1}: host {victim} (pid {host.Pid}) at +{(_clock.Elapsed - _chaosStarted).TotalSeconds:F0} s: {onVictim.Count} sockets on it; "
            + $"{vanishers.Count} vanish for good ({vanishers.Count(v => v.LiveCalls().Count > 0)} in a call), {onVictim.Count - vanishers.Count} reconnect elsewhere; "
            + $"{watched.Count} peers on live hosts watched");

        _background.Add(RestartLaterAsync(host, $"host {victim}", () => Volatile.Write(ref _up[victim], true)));

        return Task.Run(() => MeasureAsync(k, killedAt, probe, vanishers, watched));
    }

    /// <summary>Restarts a killed node after <see cref="DownFor"/>; <paramref name="up"/> runs once it is healthy.</summary>
    private async Task RestartLaterAsync(LocalCluster.HostProcess node, string name, Action up)
    {
        await Task.Delay(DownFor);
        node.Restart();
        Interlocked.Increment(ref _restarts);
        Count("restart");
        try
        {
            await node.WaitHealthyAsync(TimeSpan.FromSeconds(60));
            up();
        }
        catch (Exception ex) when (ex is TimeoutException or InvalidOperationException)
        {
            Say($"{name} did not come back: {ex.Message}");
        }
    }

    /// <summary>
    /// Kills one grains-only silo with SIGKILL and restarts it after <see cref="DownFor"/>. No socket is on it: its
    /// grains come back on the other silo from Redis while the edges keep every socket open. Returns the measurement.
    /// </summary>
    private async Task<Task> KillSiloAsync(int k)
    {
        var victim = _plan.Next(_cluster.Silos.Count);
        var silo = _cluster.Silos[victim];
        var open = _actors.Select(a => a.Client).OfType<WsClient>().Where(c => c.ClosedAt is null).ToList();
        var killedAt = _clock.Elapsed;
        await silo.KillAsync();
        Count("kill");
        Say($"kill {k + 1}: silo {victim} (pid {silo.Pid}) at +{(killedAt - _chaosStarted).TotalSeconds:F0} s: {open.Count} sockets open on the edges, none on it");
        _background.Add(RestartLaterAsync(silo, $"silo {victim}", () => { }));

        return Task.Run(() => MeasureSiloKillAsync(k, killedAt, open));
    }

    /// <summary>
    /// Times, from the kill of a silo, until the users' requests are answered again: the last request after the kill
    /// that got no answer or ERR_INTERNAL (the switch). Settled once requests have been answered for 10 s; failures
    /// past <see cref="Limit"/> are a violation, and so is any socket the server closed meanwhile.
    /// </summary>
    private async Task MeasureSiloKillAsync(int k, TimeSpan killedAt, List<WsClient> openAtKill)
    {
        var quiet = TimeSpan.FromSeconds(10);
        List<(TimeSpan At, bool Failed)> after;
        while (true)
        {
            after = [.. _answers.Where(a => a.At >= killedAt)];
            var settledFrom = after.Where(a => a.Failed).Select(a => a.At).DefaultIfEmpty(killedAt).Max();
            var answeredSince = after.Any(a => !a.Failed && a.At > settledFrom);
            if ((answeredSince && _clock.Elapsed - settledFrom >= quiet) || _clock.Elapsed - killedAt >= Limit)
            {
                break;
            }

            await Task.Delay(1000);
        }

        var failed = after.Where(a => a.Failed).ToList();
        var lastFailure = failed.Count == 0 ? (TimeSpan?)null : failed.Max(a => a.At) - killedAt;
        if (lastFailure is null && after.Count == 0)
        {
            _boundViolations.Add(new("bound", $"kill {k + 1}", $"kill {k + 1}: no request was answered within {Limit.TotalSeconds:F0} s of the silo's kill"));
        }
        else if (_clock.Elapsed - killedAt >= Limit)
        {
            _boundViolations.Add(new("bound", $"kill {k + 1}", $"kill {k + 1}: requests still failed {lastFailure?.TotalSeconds:F1} s after the silo's kill (limit {Limit.TotalSeconds:F0} s)"));
        }

        var measuredUntil = DateTime.UtcNow;
        foreach (var socket in openAtKill.Where(s => s.ClosedAt is { } closed && closed <= measuredUntil && !_droppedByTest.ContainsKey(s)))
        {
            var owner = _actors.First(a => a.Sockets.Any(s2 => s2.Socket == socket));
            _boundViolations.Add(new("bound", owner.Uid, $"kill {k + 1}: the server closed {owner.Uid}'s socket on an edge ({socket.CloseStatus}) after a silo was killed"));
        }

        Say($"kill {k + 1} measured: {after.Count} requests after the silo's kill, {failed.Count} unanswered or ERR_INTERNAL, "
            + (lastFailure is { } last ? $"the last {last.TotalSeconds:F1} s after the kill" : "none failed")
            + $"; sockets the server closed: {openAtKill.Count(s => s.ClosedAt is not null && !_droppedByTest.ContainsKey(s))} of {openAtKill.Count}");
    }

    /// <summary>
    /// Times, from the kill, until every vanished user can be called (the probe user calls them each second; a call
    /// that rings is cancelled at once) and until every watched peer has been told how its call ended. Bounded by
    /// <see cref="Limit"/>; what is not reached by then is a violation.
    /// </summary>
    private async Task MeasureAsync(int k, DateTime killedAt, ChaosActor probe, List<ChaosActor> vanishers, List<(ChaosActor Peer, string SessionId)> watched)
    {
        var callable = new Dictionary<string, TimeSpan>();
        var told = new Dictionary<string, TimeSpan>();
        var voided = new HashSet<string>();
        var socketAtKill = watched.ToDictionary(w => w.Peer.Uid, w => w.Peer.Client!);
        while (DateTime.UtcNow - killedAt < Limit && (callable.Count < vanishers.Count || told.Count + voided.Count < watched.Count))
        {
            foreach (var (peer, sessionId) in watched.Where(w => !told.ContainsKey(Key(w)) && !voided.Contains(Key(w))))
            {
                var socket = socketAtKill[peer.Uid];
                var end = socket.Log.FirstOrDefault(m => ChaosRules.CallsIn(m).Any(c => c.Str("sessionId") == sessionId && ChaosRules.IsFinal(c.Str("status"))));
                if (end is not null)
                {
                    told[Key((peer, sessionId))] = end.At > killedAt ? end.At - killedAt : TimeSpan.Zero;
                    peer.Frozen = watched.Any(w => w.Peer == peer && !told.ContainsKey(Key(w)));
                }
                else if (socket.ClosedAt is not null)
                {
                    voided.Add(Key((peer, sessionId)));
                    peer.Frozen = false;
                }
            }

            foreach (var vanished in vanishers.Where(v => !callable.ContainsKey(v.Uid)))
            {
                if (await ProbeCallAsync(probe, vanished.Uid) == "ok")
                {
                    callable[vanished.Uid] = DateTime.UtcNow - killedAt;
                }
            }

            await Task.Delay(1000);
        }

        foreach (var vanished in vanishers.Where(v => !callable.ContainsKey(v.Uid)))
        {
            _boundViolations.Add(new("bound", vanished.Uid, $"kill {k + 1}: {vanished.Uid} (socket died with the host, never came back) still cannot be called {Limit.TotalSeconds:F0} s after the kill"));
        }

        foreach (var (peer, sessionId) in watched.Where(w => !told.ContainsKey(Key(w)) && !voided.Contains(Key(w))))
        {
            _boundViolations.Add(new("bound", Key((peer, sessionId)), $"kill {k + 1}: {peer.Uid} (on a live host) was not told how call {sessionId} ended within {Limit.TotalSeconds:F0} s of the kill"));
        }

        if (probe.Client is { } done)
        {
            // Its host may be the next victim now.
            await done.DisposeAsync();
        }

        Say($"kill {k + 1} measured: vanished users callable again: {Figures(callable.Values, vanishers.Count)}; "
            + $"their peers on live hosts told the end: {Figures(told.Values, watched.Count - voided.Count)}"
            + (voided.Count > 0 ? $" ({voided.Count} peers lost their own socket meanwhile, not counted)" : ""));

        static string Key((ChaosActor Peer, string SessionId) w) => $"{w.Peer.Uid}/{w.SessionId}";
    }

    private static string Figures(IEnumerable<TimeSpan> measured, int of)
    {
        var values = measured.ToList();
        var within = values.Count(v => v <= Limit);
        return of == 0 ? "none to measure"
            : values.Count == 0 ? $"0 of {of} within {Limit.TotalSeconds:F0} s"
            : $"{within} of {of} within {Limit.TotalSeconds:F0} s, max {values.Max().TotalSeconds:F1} s, median {values.Order().ElementAt(values.Count / 2).TotalSeconds:F1} s (target {Target.TotalSeconds:F0} s)";
    }

    /// <summary>Calls <paramref name="uid"/> from the probe and cancels at once if it rings: "ok" if callable, else the error code, or null if no answer.</summary>
    private async Task<string?> ProbeCallAsync(ChaosActor probe, string uid)
    {
        if (!probe.Present && !await ConnectAsync(probe, -1, exceptHost: -1))
        {
            return null;
        }

        var client = probe.Client!;
        foreach (var (sessionId, _, _) in probe.LiveCalls())
        {
            // A cancel that got lost (a host died under it) would leave the probe itself busy.
            await client.TryRequestAsync("rejectCall", new { sessionId, status = "cancelled" }, RequestTimeout);
        }

        var response = await client.TryRequestAsync("initiateCall", new { receiverId = uid, receiverType = "user", callType = "audio", timeoutSeconds = 5 }, RequestTimeout);
        Count("probe");
        if (response is not { } r)
        {
            return null;
        }

        if (!r.IsOk())
        {
            return r.ErrorCode();
        }

        await client.TryRequestAsync("rejectCall", new { sessionId = r.SessionId(), status = "cancelled" }, RequestTimeout);
        return "ok";
    }

    /// <summary>Reads every user and every call through the admin API and checks (a)-(e).</summary>
    private async Task<List<Violation>> CheckAsync()
    {
        await Task.Delay(3000);
        var (states, calls) = await ReadServerAsync();
        var now = DateTime.UtcNow;
        var first = ChaosRules.StateViolations(states, calls, uid => Actor(uid)?.AbsentFor(now), Target);
        var violations = first;
        if (first.Count > 0)
        {
            // A check can catch a change half made (a ring timeout between two reads): only what lasts counts.
            await Task.Delay(3000);
            (states, calls) = await ReadServerAsync();
            now = DateTime.UtcNow;
            var lasting = first.Select(v => (v.Rule, v.Subject)).ToHashSet();
            violations = [.. ChaosRules.StateViolations(states, calls, uid => Actor(uid)?.AbsentFor(now), Target).Where(v => lasting.Contains((v.Rule, v.Subject)))];
        }

        // (a), second half: whoever holds no call can be called.
        var finalProbe = _actors.Where(a => a.IsProbe).Last();
        var free = states.Where(s => s.Key != finalProbe.Uid && s.Value.GetProperty("activeCall").ValueKind == JsonValueKind.Null && s.Value.GetProperty("ringing").GetArrayLength() == 0).Select(s => s.Key).ToList();
        foreach (var uid in free)
        {
            if (await ProbeCallAsync(finalProbe, uid) is var outcome && outcome != "ok")
            {
                violations.Add(new("a", uid, $"{uid} holds no call, but calling them answers {outcome ?? "nothing"}"));
            }
        }

        await Task.Delay(2000);
        (states, calls) = await ReadServerAsync();
        foreach (var actor in _actors)
        {
            var sockets = actor.Sockets;
            for (var i = 0; i < sockets.Count; i++)
            {
                var socket = sockets[i].Socket;
                violations.AddRange(ChaosRules.FinalEventViolations(actor.Uid, i + 1, socket.Log, socket.ClosedAt, calls));
                var finalSeq = socket.ClosedAt is null && states.TryGetValue(actor.Uid, out var state) ? state.GetProperty("seq").GetInt64() : (long?)null;
                // A gap says more with the socket's own requests that were never answered beside it (an action may
                // have taken effect after the client stopped waiting, and its number travels only in the response).
                var unanswered = string.Join(", ", socket.Unanswered.Select(r => $"{r.Op} at +{(r.At - _clockStartedAt).TotalSeconds:F1} s"));
                violations.AddRange(ChaosRules.SeqViolations(actor.Uid, i + 1, socket.Log, finalSeq)
                    .Select(v => unanswered.Length == 0 ? v : v with { Detail = $"{v.Detail}; unanswered requests: {unanswered}" }));
            }
        }

        // (f) The endpoint got every settled call's final event (retried, handed on again after a kill), in order.
        var hooks = Stopwatch.StartNew();
        while (hooks.Elapsed < Limit && ChaosRules.WebhookViolations(calls, Delivered()).Any(v => v.Subject.EndsWith("/final", StringComparison.Ordinal)))
        {
            await Task.Delay(250);
        }

        violations.AddRange(ChaosRules.WebhookViolations(calls, Delivered()));
        Say($"webhooks: {Delivered().Count} events of {calls.Count} calls at the endpoint, every final one there {hooks.Elapsed.TotalSeconds:F1} s after the check began");

        var byStatus = calls.Values.GroupBy(c => c is { } call ? call.Str("status") : "not found").OrderBy(g => g.Key);
        Say($"operations: {string.Join(", ", _ops.Where(o => !o.Key.Contains(':', StringComparison.Ordinal)).OrderBy(o => o.Key).Select(o => $"{o.Key} {o.Value}"))}");
        Say($"outcomes: {string.Join(", ", _ops.Where(o => o.Key.Contains(':', StringComparison.Ordinal)).OrderBy(o => o.Key).Select(o => $"{o.Key} {o.Value}"))}");
        Say($"kills {_ops.GetValueOrDefault("kill")}, restarts {_restarts}; sockets opened {_actors.Sum(a => a.Sockets.Count)}; users gone for good {_actors.Count(a => a.Vanished)}");
        Say($"calls by final status ({calls.Count} seen by the clients): {string.Join(", ", byStatus.Select(g => $"{g.Key} {g.Count()}"))}");
        return violations;
    }

    private List<(string WebhookId, string SessionId, string Type)> Delivered() =>
        [.. _receiver.Delivered(WebhookPath).Select(w => (w.Id, w.SessionId, w.Type))];

    /// <summary>Every user's state, and every call any socket saw or any slot names, through a live host's admin API.</summary>
    private async Task<(Dictionary<string, JsonElement> States, Dictionary<string, JsonElement?> Calls)> ReadServerAsync()
    {
        var host = Enumerable.Range(0, _up.Length).First(h => Volatile.Read(ref _up[h]));
        using var admin = new Admin(_cluster.Hosts[host].Url);
        var states = new ConcurrentDictionary<string, JsonElement>();
        await Parallel.ForEachAsync(_actors, new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (actor, cancel) =>
        {
            using var response = await admin.SendAsync(HttpMethod.Get, $"/v1/users/{actor.Uid}/state");
            Assert.True(response.IsSuccessStatusCode, $"state of {actor.Uid}: {(int)response.StatusCode}");
            using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync(cancel));
            states[actor.Uid] = body.RootElement.Clone();
        });

        var ids = _actors.SelectMany(a => a.Sockets).SelectMany(s => s.Socket.Log).SelectMany(ChaosRules.CallsIn).Select(c => c.Str("sessionId"))
            .Concat(states.Values.SelectMany(s => s.GetProperty("ringing").EnumerateArray().Append(s.GetProperty("activeCall")))
                .Where(c => c.ValueKind == JsonValueKind.Object).Select(c => c.Str("sessionId")))
            .ToHashSet();
        var calls = new ConcurrentDictionary<string, JsonElement?>();
        await Parallel.ForEachAsync(ids, new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (id, cancel) =>
        {
            var response = await admin.SendAsync(HttpMethod.Get, $"/v1/calls/{id}");
            for (var attempt = 1; attempt < 3 && !response.IsSuccessStatusCode && response.StatusCode != System.Net.HttpStatusCode.NotFound; attempt++)
            {
                // Only "not found" means no such call; anything else is asked again.
                response.Dispose();
                await Task.Delay(500, cancel);
                response = await admin.SendAsync(HttpMethod.Get, $"/v1/calls/{id}");
            }

            using var answered = response;
            using var body = response.IsSuccessStatusCode ? JsonDocument.Parse(await response.Content.ReadAsStringAsync(cancel)) : null;
            calls[id] = body?.RootElement.GetProperty("call").Clone();
        });

        return (new(states), new(calls));
    }

    private ChaosActor? Actor(string uid) => _actors.FirstOrDefault(a => a.Uid == uid);

    private static string? PeerOf(ChaosActor actor, string sessionId)
    {
        var call = actor.Client?.Log.SelectMany(ChaosRules.CallsIn).LastOrDefault(c => c.Str("sessionId") == sessionId);
        return call is { } c ? ChaosRules.Parties(c).FirstOrDefault(p => p != actor.Uid) : null;
    }

    private int Next(int min, int max)
    {
        lock (_randomLock)
        {
            return _random.Next(min, max);
        }
    }

    private void Count(string kind) => _ops.AddOrUpdate(kind, 1, (_, n) => n + 1);

    private void Say(string line)
    {
        var stamped = $"[chaos +{_clock.Elapsed.TotalSeconds:F0}s] {line}";
        output.WriteLine(stamped);
        Console.WriteLine(stamped);
    }
}
