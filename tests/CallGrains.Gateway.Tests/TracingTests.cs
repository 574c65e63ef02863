using System.Collections.Concurrent;
using System.Net;
using System.Text;
using CallGrains.Host;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry.Trace;

namespace CallGrains.Gateway.Tests;

/// <summary>Spans go to an OTLP collector only when <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> names one.</summary>
public sealed class TracingTests
{
    [Fact]
    public async Task A_call_through_the_host_is_exported_over_otlp_as_service_callgrains_with_orleans_spans()
    {
        await using var collector = OtlpCollector.Start();
        await using var node = await GatewayNode.StartAsync(null, null,
            $"--{Tracing.EndpointVariable}={collector.Endpoint}",
            "--OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf",
            "--OTEL_BSP_SCHEDULE_DELAY=200");
        using var admin = new Admin(node.BaseUri);
        var users = await admin.UsersAsync(2);
        await using var a = await WsClient.ConnectAsync(node, users[0].Uid, users[0].Token);
        await using var b = await WsClient.ConnectAsync(node, users[1].Uid, users[1].Token);

        var call = await a.CallAsync(b.Uid);
        Assert.True(call.IsOk());

        // service.name in the resource, Orleans' application source as the instrumentation scope, the grain method as
        // the span's rpc.method, and the ASP.NET Core instrumentation's scope.
        string[] expected = ["callgrains", "Microsoft.Orleans.Application", "ICallSessionGrain/InitiateCall", "Microsoft.AspNetCore"];
        var deadline = DateTime.UtcNow.AddSeconds(60);
        for (var i = 0; i < 600 && !expected.All(collector.Received); i++)
        {
            Assert.True(DateTime.UtcNow < deadline, $"the collector received {collector.Requests} requests, missing: {string.Join(", ", expected.Where(e => !collector.Received(e)))}");
            await Task.Delay(100);
        }

        Assert.All(expected, e => Assert.True(collector.Received(e), e));
        Assert.All(collector.Paths, p => Assert.Equal("/v1/traces", p));
    }

    [Fact]
    public async Task Without_an_endpoint_no_tracer_is_configured()
    {
        await using var node = await GatewayNode.StartAsync();
        Assert.Null(node.Services.GetService<TracerProvider>());
    }

    /// <summary>An OTLP/HTTP receiver on loopback: keeps what is posted, answers 200 with an empty export response.</summary>
    private sealed class OtlpCollector : IAsyncDisposable
    {
        private readonly HttpListener _listener;
        private readonly Task _loop;
        private readonly ConcurrentQueue<byte[]> _bodies = new();
        private readonly ConcurrentQueue<string> _paths = new();

        private OtlpCollector(HttpListener listener, string endpoint)
        {
            _listener = listener;
            Endpoint = endpoint;
            _loop = Task.Run(LoopAsync);
        }

        public string Endpoint { get; }

        public int Requests => _bodies.Count;

        public IReadOnlyList<string> Paths => [.. _paths];

        public static OtlpCollector Start()
        {
            var endpoint = $"http://127.0.0.1:{GatewayNode.FreePort()}";
            var listener = new HttpListener();
            listener.Prefixes.Add($"{endpoint}/");
            listener.Start();
            return new OtlpCollector(listener, endpoint);
        }

        /// <summary>Whether any posted body holds this text (protobuf keeps strings as UTF-8 bytes).</summary>
        public bool Received(string text)
        {
            var needle = Encoding.UTF8.GetBytes(text);
            return _bodies.Any(b => b.AsSpan().IndexOf(needle) >= 0);
        }

        private async Task LoopAsync()
        {
            // Ends when the listener is stopped; each request is bounded by what the exporter sends.
            while (_listener.IsListening)
            {
                HttpListenerContext context;
                try
                {
                    context = await _listener.GetContextAsync();
                }
                catch (Exception ex) when (ex is HttpListenerException or ObjectDisposedException or InvalidOperationException)
                {
                    return;
                }

                using var body = new MemoryStream();
                await context.Request.InputStream.CopyToAsync(body);
                _paths.Enqueue(context.Request.Url!.AbsolutePath);
                _bodies.Enqueue(body.ToArray());
                context.Response.StatusCode = 200;
                context.Response.ContentType = "application/x-protobuf";
                context.Response.Close();
            }
        }

        public async ValueTask DisposeAsync()
        {
            _listener.Stop();
            await _loop.WaitAsync(TimeSpan.FromSeconds(10));
            _listener.Close();
        }
    }
}
