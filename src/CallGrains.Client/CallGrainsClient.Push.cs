using CallGrains.Client.Internal;

namespace CallGrains.Client;

public sealed partial class CallGrainsClient
{
    /// <summary>
    /// Registers a device's push token (<c>PUT /v1/me/push-tokens/{deviceId}</c>), so that the device rings while its app
    /// holds no connection. One token per device and platform: registering again replaces it. Register at each app launch
    /// and whenever the platform hands out a new token; past the server's limit (<c>Push:MaxTokensPerUser</c>) the least
    /// recently registered token of the user goes. A token another user registered before leaves that user.
    /// </summary>
    /// <param name="deviceId">The device, 1-64 characters of <c>[A-Za-z0-9._-]</c>: use the id it connects with.</param>
    /// <param name="platform">The token's platform.</param>
    /// <param name="token">APNs: the token's hex digits (64-200); FCM: the registration token (1-4096 of <c>[A-Za-z0-9_:.-]</c>).</param>
    /// <param name="cancellationToken">Cancels the request.</param>
    /// <returns>The token as stored (APNs tokens in lowercase).</returns>
    public async Task<PushTokenEntry> RegisterPushTokenAsync(string deviceId, PushPlatform platform, string token, CancellationToken cancellationToken = default) =>
        WireFormat.ParsePushToken(await _rest.SendAsync(HttpMethod.Put, PushTokenPath(deviceId), new { platform = platform.Name(), token }, cancellationToken).ConfigureAwait(false));

    /// <summary>
    /// Removes every push token of a device (<c>DELETE /v1/me/push-tokens/{deviceId}</c>), for a user logging out of it.
    /// Removing a device that has none succeeds too.
    /// </summary>
    /// <param name="deviceId">The device.</param>
    /// <param name="cancellationToken">Cancels the request.</param>
    /// <returns>A task that completes when the tokens are gone.</returns>
    public async Task UnregisterPushTokenAsync(string deviceId, CancellationToken cancellationToken = default) =>
        await _rest.SendAsync(HttpMethod.Delete, PushTokenPath(deviceId), null, cancellationToken).ConfigureAwait(false);

    /// <summary>Reads this user's push tokens, over all devices, newest first (<c>GET /v1/me/push-tokens</c>).</summary>
    /// <param name="cancellationToken">Cancels the request.</param>
    /// <returns>The tokens, each in full.</returns>
    public async Task<IReadOnlyList<PushTokenEntry>> GetPushTokensAsync(CancellationToken cancellationToken = default) =>
        WireFormat.ParsePushTokens(await _rest.SendAsync(HttpMethod.Get, "/v1/me/push-tokens", null, cancellationToken).ConfigureAwait(false));

    private static string PushTokenPath(string deviceId) => $"/v1/me/push-tokens/{Uri.EscapeDataString(deviceId)}";
}
