using System.Net;
using System.Net.Http.Json;
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
/// Webhooks (docs/benchmarks.md, "Webhooks"): 1:1 ringing on sockets, initiateCall to the callee's event, on a host
/// with no webhook endpoint, then on one with three endpoints taking every event, two answering at once and one that
/// never answers (its requests hang until the timeout).
/// </summary>
public static class WebhookBench
{
    private static readonly string[] EveryEvent = ["*"];

    internal static async Task<int> RunAsync(Options options)
    {
        var calls = options.Int("ring-calls", 300);
        var key = "bench-admin-key-" + Guid.NewGuid().ToString("N");
        Console.WriteLine("building the host (Release)...");
        var dll = options.Get("host-dll", "") is { Length: > 0 } given ? given : ServerProcess.BuildHost();
        Console.WriteLine($"machine: {Environment.ProcessorCount} cores; 1:1 ringing {calls} calls per row");
        string[] settings = ["--Gateway:MessagesPerSecond=10000", "--Gateway:MessageBurst=10000", "--Webhooks:AllowHttp=true"];
        var rows = new List<string>();
        await using (var host = await ServerProcess.StartAsync(dll, key, null, settings))
        {
            rows.Add(await PushBench.RingAsync("no webhook endpoint", host.Url, key, null, calls, warmup: 30));
        }

        await using (var receiver = await Receiver.StartAsync())
        await using (var host = await ServerProcess.StartAsync(dll, key, null, settings))
        {
            using var http = new HttpClient { BaseAddress = host.Url };
            http.DefaultRequestHeaders.Add("X-Api-Key", key);
            foreach (var path in new[] { "ok-1", "ok-2", "hang" })
            {
                using var created = await http.PostAsJsonAsync("/v1/webhooks", new { url = new Uri(receiver.Address, path).ToString(), events = EveryEvent });
                created.EnsureSuccessStatusCode();
            }

            // Every node reads the endpoint list within 2 s.
            await Task.Delay(TimeSpan.FromSeconds(3));
            rows.Add(await PushBench.RingAsync("three webhook endpoints taking every event, one never answering", host.Url, key, null, calls, warmup: 30));
            rows.Add($"| (the receiver answered {receiver.Answered} deliveries; {receiver.Hanging} requests to the hanging one) | | |");
        }

        Console.WriteLine();
        Console.WriteLine("| setup | calls | initiateCall to the callee's socket event, p50 / p99 / max ms |");
        Console.WriteLine("|---|---|---|");
        rows.ForEach(Console.WriteLine);
        return 0;
    }

    /// <summary>A backend on loopback: answers 204 on every path but <c>/hang</c>, which never answers.</summary>
    private sealed class Receiver : IAsyncDisposable
    {
        private readonly WebApplication _app;
        private int _answered;
        private int _hanging;

        private Receiver()
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.Logging.ClearProviders();
            builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0, l => l.Protocols = HttpProtocols.Http1));
            _app = builder.Build();
            _app.Run(async context =>
            {
                if (context.Request.Path == "/hang")
                {
                    Interlocked.Increment(ref _hanging);
                    await Task.Delay(Timeout.Infinite, context.RequestAborted).ContinueWith(_ => { }, TaskScheduler.Default);
                    return;
                }

                Interlocked.Increment(ref _answered);
                context.Response.StatusCode = StatusCodes.Status204NoContent;
            });
        }

        public Uri Address { get; private set; } = null!;

        public int Answered => Volatile.Read(ref _answered);

        public int Hanging => Volatile.Read(ref _hanging);

        public static async Task<Receiver> StartAsync()
        {
            var receiver = new Receiver();
            await receiver._app.StartAsync();
            receiver.Address = new Uri(receiver._app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single());
            return receiver;
        }

        public async ValueTask DisposeAsync()
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
    }
}
