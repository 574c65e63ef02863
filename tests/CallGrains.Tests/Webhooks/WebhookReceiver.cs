using System.Collections.Concurrent;
using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace CallGrains.Tests.Webhooks;

/// <summary>One request a receiver got: the Standard Webhooks headers, the body as sent, and the answer it was given.</summary>
public sealed record ReceivedWebhook(string Id, string Timestamp, string Signature, string Body, int Answer, DateTimeOffset At)
{
    public JsonElement Json => JsonDocument.Parse(Body).RootElement;

    public string Type => Json.GetProperty("type").GetString()!;

    public string SessionId => Json.GetProperty("data").GetProperty("call").GetProperty("sessionId").GetString()!;

    public IHeaderDictionary Headers => new HeaderDictionary
    {
        ["webhook-id"] = Id,
        ["webhook-timestamp"] = Timestamp,
        ["webhook-signature"] = Signature,
    };
}

/// <summary>
/// An app's backend as a real HTTP server on 127.0.0.1: every path is a receiver of its own; each records what it got
/// and answers 200, or what a test scripted (a status, -1 to hang until the sender gives up), or 503 while down.
/// </summary>
public sealed class WebhookReceiver : IAsyncDisposable
{
    public const int Hang = -1;

    private readonly WebApplication _app;
    private readonly ConcurrentDictionary<string, ConcurrentQueue<ReceivedWebhook>> _received = new();
    private readonly ConcurrentDictionary<string, ConcurrentQueue<int>> _scripts = new();
    private readonly ConcurrentDictionary<string, bool> _down = new();

    private WebhookReceiver()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0, l => l.Protocols = HttpProtocols.Http1));
        _app = builder.Build();
        _app.Run(HandleAsync);
    }

    public Uri Address { get; private set; } = null!;

    public static async Task<WebhookReceiver> StartAsync()
    {
        var receiver = new WebhookReceiver();
        await receiver._app.StartAsync();
        receiver.Address = new Uri(receiver._app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single());
        return receiver;
    }

    public string Url(string path) => new Uri(Address, "/" + path).ToString();

    /// <summary>Everything a path got, in arrival order (failed attempts too).</summary>
    public ReceivedWebhook[] All(string path) => _received.TryGetValue("/" + path, out var q) ? [.. q] : [];

    /// <summary>What a path got and answered 2xx to, in arrival order.</summary>
    public ReceivedWebhook[] Delivered(string path) => [.. All(path).Where(r => r.Answer is >= 200 and < 300)];

    public void Script(string path, params int[] answers)
    {
        var queue = _scripts.GetOrAdd("/" + path, _ => new ConcurrentQueue<int>());
        foreach (var answer in answers)
        {
            queue.Enqueue(answer);
        }
    }

    public void SetDown(string path, bool down) => _down["/" + path] = down;

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    private async Task HandleAsync(HttpContext context)
    {
        var path = context.Request.Path.Value ?? "/";
        using var reader = new StreamReader(context.Request.Body);
        var body = await reader.ReadToEndAsync();
        var answer = _down.GetValueOrDefault(path) ? 503
            : _scripts.TryGetValue(path, out var script) && script.TryDequeue(out var scripted) ? scripted
            : 200;
        _received.GetOrAdd(path, _ => new ConcurrentQueue<ReceivedWebhook>()).Enqueue(new ReceivedWebhook(
            context.Request.Headers["webhook-id"].ToString(),
            context.Request.Headers["webhook-timestamp"].ToString(),
            context.Request.Headers["webhook-signature"].ToString(),
            body,
            answer,
            DateTimeOffset.UtcNow));
        if (answer == Hang)
        {
            await Task.Delay(Timeout.Infinite, context.RequestAborted).ContinueWith(_ => { }, TaskScheduler.Default);
            return;
        }

        context.Response.StatusCode = answer;
    }
}
