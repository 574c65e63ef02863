namespace CallGrains.Client;

/// <summary>
/// Short-lived TURN credentials (<see cref="CallGrainsClient.GetTurnCredentialsAsync"/>, PROTOCOL section 12): hand
/// <see cref="IceServers"/> to the peer connection (WebRTC's <c>RTCConfiguration.iceServers</c>) and ask again well
/// before <see cref="Ttl"/> has passed, say at half of it.
/// </summary>
/// <param name="IceServers">The TURN servers with this user's credential; empty when the server has none configured.</param>
/// <param name="Ttl">How long the credential is valid from when it was issued; zero when there are no servers.</param>
public sealed record TurnCredentials(IReadOnlyList<IceServer> IceServers, TimeSpan Ttl);

/// <summary>One entry of WebRTC's <c>iceServers</c>.</summary>
/// <param name="Urls">The server's <c>turn:</c>/<c>turns:</c> URIs.</param>
/// <param name="Username">The TURN username: <c>&lt;expiry unix seconds&gt;:&lt;uid&gt;</c>.</param>
/// <param name="Credential">The TURN password for <paramref name="Username"/>.</param>
public sealed record IceServer(IReadOnlyList<string> Urls, string? Username, string? Credential);
