using CallGrains.Client.Internal;

namespace CallGrains.Client;

public sealed partial class CallGrainsClient
{
    /// <summary>
    /// Gets TURN credentials for this user (<c>GET /v1/turn</c>): the ICE servers a call's peer connection relays
    /// through when the two sides cannot reach each other directly. Each call gets fresh ones cheaply; a long-lived
    /// connection asks again before <see cref="TurnCredentials.Ttl"/> has passed.
    /// </summary>
    /// <param name="cancellationToken">Cancels the request.</param>
    /// <returns>The servers with their credential, or none when the server has no TURN servers configured.</returns>
    public async Task<TurnCredentials> GetTurnCredentialsAsync(CancellationToken cancellationToken = default) =>
        WireFormat.ParseTurnCredentials(await _rest.SendAsync(HttpMethod.Get, "/v1/turn", null, cancellationToken).ConfigureAwait(false));
}
