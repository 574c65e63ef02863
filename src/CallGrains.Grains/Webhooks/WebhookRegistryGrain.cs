using System.Collections.Immutable;
using System.Security.Cryptography;
using CallGrains.Abstractions;
using CallGrains.Grains.Storage;
using Microsoft.Extensions.Options;

namespace CallGrains.Grains.Webhooks;

[GenerateSerializer, Immutable, Alias("cg.WebhookRegistryState")]
public sealed record WebhookRegistryState
{
    [Id(0)] public ImmutableArray<WebhookEndpoint> Endpoints { get; init; } = [];
}

/// <summary>
/// The deployment's webhook endpoints (PROTOCOL section 11): at most <see cref="WebhookOptions.MaxEndpoints"/>, stored
/// (Redis in production). Read by every silo's dispatcher through a short cache, so events cost it no call each.
/// </summary>
public sealed class WebhookRegistryGrain(
    [PersistentState("webhooks", StorageNames.Default)] IPersistentState<WebhookRegistryState> state,
    IOptions<WebhookOptions> options,
    TimeProvider time) : Grain, IWebhookRegistryGrain
{
    public const int MaxUrlLength = 2048;

    public async Task<WebhookRegistration> Create(string url, ImmutableArray<string> events)
    {
        if (CheckUrl(url, options.Value.AllowHttp) is { } badUrl)
        {
            return new WebhookRegistration(null, badUrl);
        }

        if (events.IsDefaultOrEmpty || events.Length > WebhookEvents.Types.Length + 1 || events.Any(e => e != WebhookEvents.All && !WebhookEvents.Types.Contains(e)))
        {
            return new WebhookRegistration(null, $"events must be \"*\" or some of {string.Join(", ", WebhookEvents.Types)}");
        }

        if (state.State.Endpoints.Length >= options.Value.MaxEndpoints)
        {
            return new WebhookRegistration(null, $"at most {options.Value.MaxEndpoints} webhook endpoints (Webhooks:MaxEndpoints)");
        }

        var endpoint = new WebhookEndpoint(
            "wh_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(12)),
            url,
            [.. events.Distinct()],
            "whsec_" + Convert.ToBase64String(RandomNumberGenerator.GetBytes(24)),
            time.GetUtcNow());
        state.State = state.State with { Endpoints = state.State.Endpoints.Add(endpoint) };
        await state.WriteStateAsync();
        return new WebhookRegistration(endpoint, null);
    }

    public Task<ImmutableArray<WebhookEndpoint>> List() => Task.FromResult(state.State.Endpoints);

    public Task<WebhookEndpoint?> Find(string id) => Task.FromResult(state.State.Endpoints.FirstOrDefault(e => e.Id == id));

    public async Task<bool> Delete(string id)
    {
        var left = state.State.Endpoints.RemoveAll(e => e.Id == id);
        if (left.Length == state.State.Endpoints.Length)
        {
            return false;
        }

        state.State = state.State with { Endpoints = left };
        await state.WriteStateAsync();
        await GrainFactory.GetGrain<IWebhookDeliveryGrain>(id).Forget();
        return true;
    }

    public async Task Disable(string id, string reason)
    {
        if (state.State.Endpoints.FirstOrDefault(e => e.Id == id) is not { DisabledAt: null } endpoint)
        {
            return;
        }

        state.State = state.State with { Endpoints = state.State.Endpoints.Replace(endpoint, endpoint with { DisabledAt = time.GetUtcNow(), DisabledReason = reason }) };
        await state.WriteStateAsync();
    }

    /// <summary>Why a url cannot be an endpoint, or null: absolute https (http if allowed), a host, no credentials, not too long.</summary>
    public static string? CheckUrl(string? url, bool allowHttp) =>
        url is null || url.Length > MaxUrlLength || !Uri.TryCreate(url, UriKind.Absolute, out var uri)
            ? $"url must be an absolute URL of at most {MaxUrlLength} characters"
            : uri.Scheme != Uri.UriSchemeHttps && !(allowHttp && uri.Scheme == Uri.UriSchemeHttp)
                ? allowHttp ? "url must be http:// or https://" : "url must be https:// (Webhooks:AllowHttp allows http://)"
                : !string.IsNullOrEmpty(uri.UserInfo) ? "url must not carry credentials"
                : uri.Fragment.Length > 0 ? "url must not have a fragment"
                : null;
}
