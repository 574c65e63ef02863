using System.Globalization;
using System.Text.Json;
using CallGrains.Client.Internal;

namespace CallGrains.Client;

/// <summary>
/// The admin REST API (PROTOCOL section 8) for your backend: create users, mint their auth tokens, revoke them, manage
/// groups, webhook endpoints. It carries the admin key (<c>X-Api-Key</c>): never ship it in an app; apps get tokens from your backend.
/// </summary>
public sealed class CallGrainsAdminClient : IDisposable
{
    private readonly RestChannel _rest;

    /// <summary>Creates an admin client.</summary>
    /// <param name="server">The server's base address.</param>
    /// <param name="adminKey">The server's <c>Auth:AdminKey</c>.</param>
    /// <param name="handler">An HTTP handler to use (not disposed by this client); null for a default one.</param>
    public CallGrainsAdminClient(Uri server, string adminKey, HttpMessageHandler? handler = null)
    {
        ArgumentNullException.ThrowIfNull(server);
        ArgumentException.ThrowIfNullOrEmpty(adminKey);
        _rest = new RestChannel(server, handler, TimeSpan.FromSeconds(30), headers => headers.Add("X-Api-Key", adminKey));
    }

    /// <summary>Creates a user (<c>POST /v1/users</c>); a uid that exists fails with <see cref="ErrorCodes.BadRequest"/> and HTTP 409.</summary>
    /// <param name="uid">1-100 characters of <c>[A-Za-z0-9_-]</c>.</param>
    /// <param name="name">The display name, 1-100 characters.</param>
    /// <param name="cancellationToken">Cancels the request.</param>
    /// <returns>The user.</returns>
    public async Task<CallUser> CreateUserAsync(string uid, string name, CancellationToken cancellationToken = default) =>
        WireFormat.ParseUser(await _rest.SendAsync(HttpMethod.Post, "/v1/users", new { uid, name }, cancellationToken).ConfigureAwait(false));

    /// <summary>Reads a user (<c>GET /v1/users/{uid}</c>); fails with <see cref="ErrorCodes.UidNotFound"/> if there is none.</summary>
    /// <param name="uid">The user's id.</param>
    /// <param name="cancellationToken">Cancels the request.</param>
    /// <returns>The user.</returns>
    public async Task<CallUser> GetUserAsync(string uid, CancellationToken cancellationToken = default) =>
        WireFormat.ParseUser(await _rest.SendAsync(HttpMethod.Get, $"/v1/users/{Uri.EscapeDataString(uid)}", null, cancellationToken).ConfigureAwait(false));

    /// <summary>Mints an auth token for a user (<c>POST /v1/users/{uid}/tokens</c>).</summary>
    /// <param name="uid">The user's id.</param>
    /// <param name="cancellationToken">Cancels the request.</param>
    /// <returns>The token and when it expires.</returns>
    public async Task<AuthToken> IssueTokenAsync(string uid, CancellationToken cancellationToken = default)
    {
        var body = await _rest.SendAsync(HttpMethod.Post, $"/v1/users/{Uri.EscapeDataString(uid)}/tokens", null, cancellationToken).ConfigureAwait(false);
        return new AuthToken(WireFormat.Str(body, "authToken"), WireFormat.UnixSeconds(WireFormat.OptionalLong(body, "expiresAt") ?? 0));
    }

    /// <summary>Revokes every token of a user (<c>DELETE /v1/users/{uid}/tokens</c>); their open connections close (4001).</summary>
    /// <param name="uid">The user's id.</param>
    /// <param name="cancellationToken">Cancels the request.</param>
    /// <returns>A task that completes when the server has revoked them.</returns>
    public async Task RevokeTokensAsync(string uid, CancellationToken cancellationToken = default) =>
        await _rest.SendAsync(HttpMethod.Delete, $"/v1/users/{Uri.EscapeDataString(uid)}/tokens", null, cancellationToken).ConfigureAwait(false);

    /// <summary>Creates a group (<c>POST /v1/groups</c>).</summary>
    /// <param name="groupId">The group's guid (the same rule as a uid).</param>
    /// <param name="name">The group's name.</param>
    /// <param name="members">The uids of its members.</param>
    /// <param name="cancellationToken">Cancels the request.</param>
    /// <returns>The member uids as the server stored them (sorted, without duplicates).</returns>
    public async Task<IReadOnlyList<string>> CreateGroupAsync(string groupId, string name, IEnumerable<string> members, CancellationToken cancellationToken = default)
    {
        var body = await _rest.SendAsync(HttpMethod.Post, "/v1/groups", new { guid = groupId, name, members = members.ToArray() }, cancellationToken).ConfigureAwait(false);
        return body.TryGetProperty("members", out var list) && list.ValueKind == JsonValueKind.Array ? [.. list.EnumerateArray().Select(m => m.GetString()!)] : [];
    }

    /// <summary>Reads any user's call log (<c>GET /v1/users/{uid}/calls</c>).</summary>
    /// <param name="uid">The user's id.</param>
    /// <param name="query">Filters and paging; null for the first page of everything.</param>
    /// <param name="cancellationToken">Cancels the request.</param>
    /// <returns>One page, newest first.</returns>
    public async Task<CallLogPage> GetCallLogAsync(string uid, CallLogQuery? query = null, CancellationToken cancellationToken = default) =>
        WireFormat.ParseLogPage(await _rest.SendAsync(HttpMethod.Get, $"/v1/users/{Uri.EscapeDataString(uid)}/calls{WireFormat.LogQueryString(query ?? new CallLogQuery())}", null, cancellationToken).ConfigureAwait(false));

    /// <summary>
    /// Reads any user's push tokens (<c>GET /v1/users/{uid}/push-tokens</c>), newest first; each token shows only as
    /// <see cref="PushTokenEntry.TokenHash"/>. Fails with <see cref="ErrorCodes.UidNotFound"/> if there is no such user.
    /// </summary>
    /// <param name="uid">The user's id.</param>
    /// <param name="cancellationToken">Cancels the request.</param>
    /// <returns>The user's push tokens.</returns>
    public async Task<IReadOnlyList<PushTokenEntry>> GetPushTokensAsync(string uid, CancellationToken cancellationToken = default) =>
        WireFormat.ParsePushTokens(await _rest.SendAsync(HttpMethod.Get, $"/v1/users/{Uri.EscapeDataString(uid)}/push-tokens", null, cancellationToken).ConfigureAwait(false));

    /// <summary>
    /// Adds a webhook endpoint (<c>POST /v1/webhooks</c>, PROTOCOL section 11). The answer carries the signing secret,
    /// which no later read shows: keep it. A bad url or filter, or one endpoint too many (<c>Webhooks:MaxEndpoints</c>),
    /// fails with <see cref="ErrorCodes.BadRequest"/> and HTTP 400.
    /// </summary>
    /// <param name="url">Where events are posted: <c>https://</c> (<c>http://</c> only where the server allows it).</param>
    /// <param name="events">The event types to get (<c>call.ended</c>, ...), or <c>*</c> for all.</param>
    /// <param name="cancellationToken">Cancels the request.</param>
    /// <returns>The endpoint, with its <see cref="WebhookEndpoint.Secret"/>.</returns>
    public async Task<WebhookEndpoint> CreateWebhookAsync(string url, IEnumerable<string> events, CancellationToken cancellationToken = default) =>
        WireFormat.ParseWebhook(await _rest.SendAsync(HttpMethod.Post, "/v1/webhooks", new { url, events = events.ToArray() }, cancellationToken).ConfigureAwait(false));

    /// <summary>Lists the webhook endpoints (<c>GET /v1/webhooks</c>), without their secrets.</summary>
    /// <param name="cancellationToken">Cancels the request.</param>
    /// <returns>Every endpoint, oldest first.</returns>
    public async Task<IReadOnlyList<WebhookEndpoint>> GetWebhooksAsync(CancellationToken cancellationToken = default) =>
        WireFormat.ParseWebhooks(await _rest.SendAsync(HttpMethod.Get, "/v1/webhooks", null, cancellationToken).ConfigureAwait(false));

    /// <summary>Reads one webhook endpoint (<c>GET /v1/webhooks/{id}</c>), without its secret; fails with HTTP 404 if there is none.</summary>
    /// <param name="id">The endpoint's id.</param>
    /// <param name="cancellationToken">Cancels the request.</param>
    /// <returns>The endpoint.</returns>
    public async Task<WebhookEndpoint> GetWebhookAsync(string id, CancellationToken cancellationToken = default) =>
        WireFormat.ParseWebhook(await _rest.SendAsync(HttpMethod.Get, WebhookPath(id), null, cancellationToken).ConfigureAwait(false));

    /// <summary>Removes a webhook endpoint and what waits for it (<c>DELETE /v1/webhooks/{id}</c>); fails with HTTP 404 if there is none.</summary>
    /// <param name="id">The endpoint's id.</param>
    /// <param name="cancellationToken">Cancels the request.</param>
    /// <returns>A task that completes when the server has removed it.</returns>
    public async Task DeleteWebhookAsync(string id, CancellationToken cancellationToken = default) =>
        await _rest.SendAsync(HttpMethod.Delete, WebhookPath(id), null, cancellationToken).ConfigureAwait(false);

    /// <summary>
    /// Recent deliveries to a webhook endpoint with their attempts, newest first
    /// (<c>GET /v1/webhooks/{id}/deliveries</c>); fails with HTTP 404 if there is no such endpoint.
    /// </summary>
    /// <param name="id">The endpoint's id.</param>
    /// <param name="status">Only deliveries in this state; null for all.</param>
    /// <param name="limit">At most this many, 1-100; null for the server's default (50).</param>
    /// <param name="cancellationToken">Cancels the request.</param>
    /// <returns>The deliveries, newest first.</returns>
    public async Task<IReadOnlyList<WebhookDelivery>> GetWebhookDeliveriesAsync(string id, WebhookDeliveryStatus? status = null, int? limit = null, CancellationToken cancellationToken = default)
    {
        var query = string.Join('&', new[]
        {
            status is { } s ? $"status={s.Name()}" : null,
            limit is { } n ? string.Create(CultureInfo.InvariantCulture, $"limit={n}") : null,
        }.OfType<string>());
        var path = $"{WebhookPath(id)}/deliveries{(query.Length == 0 ? "" : "?" + query)}";
        return WireFormat.ParseDeliveries(await _rest.SendAsync(HttpMethod.Get, path, null, cancellationToken).ConfigureAwait(false));
    }

    /// <inheritdoc/>
    public void Dispose() => _rest.Dispose();

    private static string WebhookPath(string id) => $"/v1/webhooks/{Uri.EscapeDataString(id)}";
}
