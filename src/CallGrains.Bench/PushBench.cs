using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using HdrHistogram;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace CallGrains.Bench;

/// <summary>
/// Push (docs/benchmarks.md, "Push"): a group whose members all sleep (a PushKit token each, no socket), timed from
/// <c>initiateCall</c> to the last member's ring push arriving at an APNs stand-in on loopback; and 1:1 ringing on
/// sockets with push off, then with push on and a provider that answers slowly, to show the ringing does not wait for it.
/// </summary>
public static class PushBench
{
    internal static async Task<int> RunAsync(Options options)
    {
        var size = options.Int("members", 100);
        var calls = options.Int("calls", 100);
        var ringCalls = options.Int("ring-calls", 300);
        var slowMs = options.Int("slow-ms", 2000);
        var key = "bench-admin-key-" + Guid.NewGuid().ToString("N");
        Console.WriteLine("building the host (Release)...");
        var dll = options.Get("host-dll", "") is { Length: > 0 } given ? given : ServerProcess.BuildHost();
        Console.WriteLine($"machine: {Environment.ProcessorCount} cores; group of {size} on push only, {calls} calls; 1:1 ringing {ringCalls} calls, slow provider {slowMs} ms");
        var keyPath = Path.Combine(Path.GetTempPath(), $"bench-AuthKey-{Guid.NewGuid():N}.p8");
        using (var ec = ECDsa.Create(ECCurve.NamedCurves.nistP256))
        {
            await File.WriteAllTextAsync(keyPath, ec.ExportPkcs8PrivateKeyPem());
        }

        string[] limits = ["--Gateway:MessagesPerSecond=10000", "--Gateway:MessageBurst=10000"];
        string[] Push(ApnsSink sink) =>
        [
            "--Push:Apns:TeamId=BENCH12345", "--Push:Apns:KeyId=BENCHKEY01", $"--Push:Apns:PrivateKeyPath={keyPath}",
            "--Push:Apns:Topic=com.example.bench", $"--Push:Apns:Endpoint={sink.Endpoint}",
        ];

        var rows = new List<string>();
        try
        {
            await using (var sink = await ApnsSink.StartAsync(TimeSpan.Zero))
            await using (var host = await ServerProcess.StartAsync(dll, key, null, [.. limits, .. Push(sink)]))
            {
                rows.Add(await FanOutAsync(host.Url, key, sink, size, calls, warmup: 10));
            }

            await using (var sink = await ApnsSink.StartAsync(TimeSpan.Zero))
            await using (var host = await ServerProcess.StartAsync(dll, key, null, [.. limits, .. Push(sink)]))
            {
                rows.Add(await RingPushAsync(host.Url, key, sink, ringCalls, warmup: 30));
            }

            await using (var host = await ServerProcess.StartAsync(dll, key, null, limits))
            {
                rows.Add(await RingAsync("1:1 ringing, push off", host.Url, key, null, ringCalls, warmup: 30));
            }

            await using (var sink = await ApnsSink.StartAsync(TimeSpan.FromMilliseconds(slowMs)))
            await using (var host = await ServerProcess.StartAsync(dll, key, null, [.. limits, .. Push(sink)]))
            {
                rows.Add(await RingAsync($"1:1 ringing, push on, provider answers after {slowMs} ms", host.Url, key, sink, ringCalls, warmup: 30));
            }
        }
        finally
        {
            File.Delete(keyPath);
        }

        Console.WriteLine();
        Console.WriteLine("| measurement | calls | p50 / p99 / max ms |");
        Console.WriteLine("|---|---|---|");
        rows.ForEach(Console.WriteLine);
        return 0;
    }

    /// <summary>initiateCall to the last member's ring push at the sink, each call cancelled and its cancel pushes received before the next.</summary>
    private static async Task<string> FanOutAsync(Uri url, string key, ApnsSink sink, int size, int calls, int warmup)
    {
        using var admin = new BenchAdmin(url, key);
        var run = Guid.NewGuid().ToString("N")[..6];
        var users = await admin.CreateUsersAsync($"p{run}-", size + 1);
        var guid = $"push-{run}";
        await admin.CreateGroupAsync(guid, users.Select(u => u.Uid));
        await RegisterTokensAsync(url, users[1..], "phone");
        await using var caller = await BenchSocket.ConnectAsync(url, users[0].Token);
        var pushed = new LongHistogram(TimeStamp.Minutes(1), 3);
        for (var n = 0; n < warmup + calls; n++)
        {
            var started = Stopwatch.GetTimestamp();
            var response = await caller.RequestAsync("initiateCall", new JsonObject { ["receiverId"] = guid, ["receiverType"] = "group", ["callType"] = "audio" });
            if (!response.Ok)
            {
                throw new InvalidOperationException($"push fan-out: initiateCall failed: {response.ErrorCode}");
            }

            var last = await sink.WaitAsync(response.SessionId!, "incomingCallReceived", size);
            if (n >= warmup)
            {
                pushed.RecordValue(last - started);
            }

            (await caller.RequestAsync("rejectCall", new JsonObject { ["sessionId"] = response.SessionId, ["status"] = "cancelled" })).Ensure("rejectCall");
            await sink.WaitAsync(response.SessionId!, "incomingCallCanceled", size);
            if ((n + 1) % 25 == 0)
            {
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"[push fan-out] {n + 1} of {warmup + calls} calls"));
            }
        }

        return $"| initiateCall to the last of {size} members' ring push (no sockets) | {calls} | {Ms(pushed)} |";
    }

    /// <summary>initiateCall to the ring push of a callee whose only device sleeps (a PushKit token, no socket).</summary>
    private static async Task<string> RingPushAsync(Uri url, string key, ApnsSink sink, int calls, int warmup)
    {
        using var admin = new BenchAdmin(url, key);
        var run = Guid.NewGuid().ToString("N")[..6];
        var users = await admin.CreateUsersAsync($"q{run}-", 2);
        await RegisterTokensAsync(url, users[1..], "phone");
        await using var caller = await BenchSocket.ConnectAsync(url, users[0].Token);
        var pushed = new LongHistogram(TimeStamp.Minutes(1), 3);
        for (var n = 0; n < warmup + calls; n++)
        {
            var started = Stopwatch.GetTimestamp();
            var response = await caller.RequestAsync("initiateCall", new JsonObject { ["receiverId"] = users[1].Uid, ["receiverType"] = "user", ["callType"] = "audio" });
            if (!response.Ok)
            {
                throw new InvalidOperationException($"push 1:1: initiateCall failed: {response.ErrorCode}");
            }

            var at = await sink.WaitAsync(response.SessionId!, "incomingCallReceived", 1);
            if (n >= warmup)
            {
                pushed.RecordValue(at - started);
            }

            (await caller.RequestAsync("rejectCall", new JsonObject { ["sessionId"] = response.SessionId, ["status"] = "cancelled" })).Ensure("rejectCall");
            await sink.WaitAsync(response.SessionId!, "incomingCallCanceled", 1);
        }

        return $"| 1:1, callee asleep: initiateCall to its VoIP push at the provider | {calls} | {Ms(pushed)} |";
    }

    /// <summary>
    /// initiateCall to the callee's <c>incomingCallReceived</c> on its socket; with a sink, the callee also has a
    /// sleeping tablet with a PushKit token, so every ring also owes a push the sink answers slowly.
    /// </summary>
    internal static async Task<string> RingAsync(string label, Uri url, string key, ApnsSink? sink, int calls, int warmup)
    {
        using var admin = new BenchAdmin(url, key);
        var run = Guid.NewGuid().ToString("N")[..6];
        var users = await admin.CreateUsersAsync($"r{run}-", 2);
        if (sink is not null)
        {
            await RegisterTokensAsync(url, users[1..], "tablet");
        }

        await using var caller = await BenchSocket.ConnectAsync(url, users[0].Token);
        await using var callee = await BenchSocket.ConnectAsync(url, users[1].Token);
        var rung = new LongHistogram(TimeStamp.Minutes(1), 3);
        for (var n = 0; n < warmup + calls; n++)
        {
            var incoming = callee.WaitForEventAsync("incomingCallReceived");
            var started = Stopwatch.GetTimestamp();
            var response = await caller.RequestAsync("initiateCall", new JsonObject { ["receiverId"] = users[1].Uid, ["receiverType"] = "user", ["callType"] = "audio" });
            if (!response.Ok)
            {
                throw new InvalidOperationException($"{label}: initiateCall failed: {response.ErrorCode}");
            }

            var rang = await incoming.WaitAsync(TimeSpan.FromSeconds(30));
            if (n >= warmup)
            {
                rung.RecordValue(rang.Timestamp - started);
            }

            var canceled = callee.WaitForEventAsync("incomingCallCanceled", response.SessionId);
            (await caller.RequestAsync("rejectCall", new JsonObject { ["sessionId"] = response.SessionId, ["status"] = "cancelled" })).Ensure("rejectCall");
            await canceled.WaitAsync(TimeSpan.FromSeconds(30));
        }

        var pushes = sink is null ? "" : $" ({sink.Received} pushes reached the provider)";
        return $"| {label}: initiateCall to the callee's socket event{pushes} | {calls} | {Ms(rung)} |";
    }

    private static async Task RegisterTokensAsync(Uri url, IEnumerable<(string Uid, string Token)> users, string deviceId)
    {
        using var http = new HttpClient { BaseAddress = url };
        foreach (var (_, token) in users)
        {
            using var put = new HttpRequestMessage(HttpMethod.Put, $"/v1/me/push-tokens/{deviceId}")
            {
                Content = JsonContent.Create(new { platform = "apns-voip", token = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32)) }),
            };
            put.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
            using var answer = await http.SendAsync(put);
            answer.EnsureSuccessStatusCode();
        }
    }

    private static string Ms(LongHistogram h) => string.Create(
        CultureInfo.InvariantCulture,
        $"{Value(h, 50):F2} / {Value(h, 99):F2} / {Value(h, 100):F2}");

    private static double Value(LongHistogram h, double percentile) => h.GetValueAtPercentile(percentile) * 1000.0 / Stopwatch.Frequency;

    /// <summary>
    /// An APNs stand-in for timing only (the tests' emulator checks what Apple checks): HTTP/2 on loopback, records when
    /// each push arrived by session (<c>apns-collapse-id</c>) and event, answers 200 after <c>delay</c>.
    /// </summary>
    internal sealed class ApnsSink : IAsyncDisposable
    {
        private readonly WebApplication _app;
        private readonly TimeSpan _delay;
        private readonly ConcurrentDictionary<(string Session, string Event), Arrivals> _arrivals = new();
        private int _received;

        private ApnsSink(TimeSpan delay)
        {
            _delay = delay;
            var builder = WebApplication.CreateSlimBuilder();
            builder.Logging.ClearProviders();
            builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0, l => l.Protocols = HttpProtocols.Http2));
            _app = builder.Build();
            _app.Run(HandleAsync);
        }

        public Uri Endpoint { get; private set; } = null!;

        public int Received => Volatile.Read(ref _received);

        public static async Task<ApnsSink> StartAsync(TimeSpan delay)
        {
            var sink = new ApnsSink(delay);
            await sink._app.StartAsync();
            sink.Endpoint = new Uri(sink._app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single());
            return sink;
        }

        /// <summary>When the <paramref name="count"/>th push of the event arrived for the session (a Stopwatch timestamp); 30 s at most.</summary>
        public Task<long> WaitAsync(string sessionId, string evt, int count) =>
            _arrivals.GetOrAdd((sessionId, evt), _ => new Arrivals()).WaitAsync(count).WaitAsync(TimeSpan.FromSeconds(30));

        public async ValueTask DisposeAsync()
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }

        private async Task HandleAsync(HttpContext context)
        {
            var at = Stopwatch.GetTimestamp();
            using var body = await JsonDocument.ParseAsync(context.Request.Body);
            var evt = body.RootElement.GetProperty("callgrains").GetProperty("event").GetString()!;
            var session = context.Request.Headers["apns-collapse-id"].ToString();
            Interlocked.Increment(ref _received);
            _arrivals.GetOrAdd((session, evt), _ => new Arrivals()).Add(at);
            if (_delay > TimeSpan.Zero)
            {
                await Task.Delay(_delay);
            }

            context.Response.Headers["apns-id"] = context.Request.Headers["apns-id"].ToString();
            context.Response.StatusCode = 200;
        }

        private sealed class Arrivals
        {
            private readonly Lock _gate = new();
            private readonly List<long> _at = [];
            private readonly List<(int Count, TaskCompletionSource<long> Done)> _waiters = [];

            public void Add(long at)
            {
                lock (_gate)
                {
                    _at.Add(at);
                    foreach (var waiter in _waiters.Where(w => _at.Count >= w.Count).ToList())
                    {
                        waiter.Done.TrySetResult(_at.Max());
                        _waiters.Remove(waiter);
                    }
                }
            }

            public Task<long> WaitAsync(int count)
            {
                lock (_gate)
                {
                    if (_at.Count >= count)
                    {
                        return Task.FromResult(_at.Max());
                    }

                    var done = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
                    _waiters.Add((count, done));
                    return done.Task;
                }
            }
        }
    }
}
