using System.Collections.Immutable;
using System.Globalization;
using System.Text.Json;
using CallGrains.Abstractions;
using CallGrains.Gateway.Protocol;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace CallGrains.Gateway.Rest;

/// <summary>
/// PROTOCOL sections 8 and 11, webhook endpoints (admin): <c>POST /v1/webhooks</c> <c>{"url","events"}</c> (the answer
/// is the only place the secret shows), <c>GET /v1/webhooks</c>, <c>GET</c>/<c>DELETE /v1/webhooks/{id}</c>, and
/// <c>GET /v1/webhooks/{id}/deliveries?status=&amp;limit=</c>, recent deliveries with their attempts, newest first.
/// </summary>
public static class WebhookApi
{
    /// <summary>Deliveries in one answer at most, and by default.</summary>
    public const int MaxDeliveries = 100;

    public const int DefaultDeliveries = 50;

    // A url of at most 2048 characters and a filter of ten event names fit many times over.
    internal const int MaxBodyBytes = 16 * 1024;

    private const string Shape = "the body must be a JSON object {\"url\":\"https://...\",\"events\":[\"call.ended\",...] or [\"*\"]}";

    private static readonly string[] DeliveryParameters = ["status", "limit"];

    public static IEndpointRouteBuilder MapWebhookApi(this IEndpointRouteBuilder app)
    {
        var webhooks = app.MapGroup("/v1/webhooks").AddEndpointFilter(RestApi.RequireAdmin).ManagementOnly();
        webhooks.MapPost("", Create);
        webhooks.MapGet("", List);
        webhooks.MapGet("/{id}", Get);
        webhooks.MapDelete("/{id}", Delete);
        webhooks.MapGet("/{id}/deliveries", Deliveries);
        return app;
    }

    private static async Task<IResult> Create(HttpRequest request, IGrainFactory grains)
    {
        // This node's calls see the new endpoint as soon as this answers; other nodes within two refresh intervals.
        var (body, problem) = await JsonBody.ReadObjectAsync(request, MaxBodyBytes, Shape);
        if (body is null)
        {
            return BadRequest(problem!);
        }

        string? url;
        ImmutableArray<string>? events;
        using (body)
        {
            var root = body.RootElement;
            url = root.TryGetProperty("url", out var u) ? JsonText.StringOrNull(u) : null;
            events = root.TryGetProperty("events", out var e) && e.ValueKind == JsonValueKind.Array && e.EnumerateArray().All(x => JsonText.StringOrNull(x) is not null)
                ? [.. e.EnumerateArray().Select(x => x.GetString()!)]
                : null;
        }

        if (url is null)
        {
            return BadRequest("url is required: the https:// address events are posted to");
        }

        if (events is not { } filter)
        {
            return BadRequest($"events is required: an array of \"*\" or some of {string.Join(", ", WebhookEvents.Types)}");
        }

        var registered = await Registry(grains).Create(url, filter);
        await RefreshCacheAsync(request.HttpContext);
        return registered.Endpoint is { } endpoint
            ? new JsonBytes(Wire.Write(w => WriteEndpoint(w, endpoint, withSecret: true)), StatusCodes.Status201Created)
            : BadRequest(registered.Problem ?? "the endpoint was refused");
    }

    private static async Task<IResult> List(IGrainFactory grains)
    {
        var endpoints = await Registry(grains).List();
        return new JsonBytes(Wire.Write(w =>
        {
            w.WriteStartObject();
            w.WriteStartArray("webhooks");
            foreach (var endpoint in endpoints)
            {
                WriteEndpoint(w, endpoint, withSecret: false);
            }

            w.WriteEndArray();
            w.WriteEndObject();
        }), StatusCodes.Status200OK);
    }

    private static async Task<IResult> Get(string id, IGrainFactory grains) =>
        await Registry(grains).Find(id) is { } endpoint
            ? new JsonBytes(Wire.Write(w => WriteEndpoint(w, endpoint, withSecret: false)), StatusCodes.Status200OK)
            : NotFound(id);

    private static async Task<IResult> Delete(string id, HttpContext context, IGrainFactory grains)
    {
        var deleted = await Registry(grains).Delete(id);
        await RefreshCacheAsync(context);
        return deleted ? Results.NoContent() : NotFound(id);
    }

    private static Task RefreshCacheAsync(HttpContext context) =>
        context.RequestServices.GetService<IWebhookEndpointCache>()?.RefreshAsync() ?? Task.CompletedTask;

    private static async Task<IResult> Deliveries(string id, HttpRequest request, IGrainFactory grains)
    {
        var (status, limit, problem) = ReadDeliveryQuery(request.Query);
        if (problem is not null)
        {
            return BadRequest(problem);
        }

        // Asked of the registry first: an id that names no endpoint is 404, and no delivery grain is woken for it.
        if (await Registry(grains).Find(id) is null)
        {
            return NotFound(id);
        }

        var deliveries = await grains.Ref<IWebhookDeliveryGrain>(id).Deliveries(status, limit);
        return new JsonBytes(Wire.Write(w =>
        {
            w.WriteStartObject();
            w.WriteStartArray("deliveries");
            foreach (var delivery in deliveries.Take(limit))
            {
                WriteDelivery(w, delivery);
            }

            w.WriteEndArray();
            w.WriteEndObject();
        }), StatusCodes.Status200OK);
    }

    /// <summary><c>status</c> (pending, delivered or failed; all when absent) and <c>limit</c> (1-100, default 50), each at most once.</summary>
    private static (WebhookDeliveryStatus? Status, int Limit, string? Problem) ReadDeliveryQuery(IQueryCollection parameters)
    {
        foreach (var (name, values) in parameters)
        {
            if (!DeliveryParameters.Contains(name, StringComparer.Ordinal))
            {
                return (null, 0, $"unknown parameter '{name}'; deliveries take {string.Join(", ", DeliveryParameters)}");
            }

            if (values.Count != 1 || string.IsNullOrEmpty(values[0]))
            {
                return (null, 0, $"'{name}' must be given once, with a value");
            }
        }

        WebhookDeliveryStatus? status = null;
        if (parameters.TryGetValue("status", out var named))
        {
            if (!WireNames.TryParse(named[0], out WebhookDeliveryStatus parsed))
            {
                return (null, 0, "status must be pending, delivered or failed");
            }

            status = parsed;
        }

        var limit = DefaultDeliveries;
        if (parameters.TryGetValue("limit", out var counted)
            && (!int.TryParse(counted[0], NumberStyles.None, CultureInfo.InvariantCulture, out limit) || limit is < 1 or > MaxDeliveries))
        {
            return (null, 0, $"limit must be a whole number from 1 to {MaxDeliveries}");
        }

        return (status, limit, null);
    }

    /// <summary><c>{"id","url","events","createdAt","disabled":{"at","reason"}|null}</c>, and <c>secret</c> only when it was just created.</summary>
    private static void WriteEndpoint(Utf8JsonWriter w, WebhookEndpoint endpoint, bool withSecret)
    {
        w.WriteStartObject();
        w.WriteString("id", endpoint.Id);
        w.WriteString("url", endpoint.Url);
        w.WriteStartArray("events");
        foreach (var type in endpoint.Events)
        {
            w.WriteStringValue(type);
        }

        w.WriteEndArray();
        if (withSecret)
        {
            w.WriteString("secret", endpoint.Secret);
        }

        w.WriteNumber("createdAt", Wire.UnixSeconds(endpoint.CreatedAt));
        if (endpoint.DisabledAt is { } disabledAt)
        {
            w.WriteStartObject("disabled");
            w.WriteNumber("at", Wire.UnixSeconds(disabledAt));
            w.WriteString("reason", endpoint.DisabledReason);
            w.WriteEndObject();
        }
        else
        {
            w.WriteNull("disabled");
        }

        w.WriteEndObject();
    }

    /// <summary><c>{"webhookId","type","sessionId","createdAt","status","nextAttemptAt","attempts":[{"at","statusCode","error","latencyMs"}]}</c>.</summary>
    private static void WriteDelivery(Utf8JsonWriter w, WebhookDelivery delivery)
    {
        w.WriteStartObject();
        w.WriteString("webhookId", delivery.WebhookId);
        w.WriteString("type", delivery.Type);
        w.WriteString("sessionId", delivery.SessionId);
        w.WriteNumber("createdAt", Wire.UnixSeconds(delivery.CreatedAt));
        w.WriteString("status", delivery.Status.Name());
        if (delivery.Status == WebhookDeliveryStatus.Pending && delivery.NextAttemptAt is { } next)
        {
            w.WriteNumber("nextAttemptAt", Wire.UnixSeconds(next));
        }
        else
        {
            w.WriteNull("nextAttemptAt");
        }

        w.WriteStartArray("attempts");
        foreach (var attempt in delivery.Attempts)
        {
            w.WriteStartObject();
            w.WriteNumber("at", Wire.UnixSeconds(attempt.At));
            if (attempt.StatusCode is { } code)
            {
                w.WriteNumber("statusCode", code);
            }
            else
            {
                w.WriteNull("statusCode");
            }

            w.WriteString("error", attempt.Error);
            w.WriteNumber("latencyMs", Math.Round(attempt.LatencyMs, 1));
            w.WriteEndObject();
        }

        w.WriteEndArray();
        w.WriteEndObject();
    }

    private static IWebhookRegistryGrain Registry(IGrainFactory grains) => grains.Ref<IWebhookRegistryGrain>(IWebhookRegistryGrain.Key);

    private static IResult BadRequest(string message) => RestResults.Error(StatusCodes.Status400BadRequest, CallErrorCode.BadRequest, message);

    // PROTOCOL section 7 has no code for a webhook endpoint; like the admin API's 409 for a uid taken, the status says
    // what happened and the code is the general one.
    private static IResult NotFound(string id) => RestResults.Error(StatusCodes.Status404NotFound, CallErrorCode.BadRequest, $"no webhook endpoint {id}");
}
