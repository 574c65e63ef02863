using System.Buffers.Text;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using CallGrains.Abstractions;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Microsoft.Net.Http.Headers;

namespace CallGrains.Gateway.Auth;

/// <summary>A verified auth token: who, which revocation generation, until when.</summary>
public readonly record struct AuthClaims(string Uid, long Generation, DateTimeOffset ExpiresAt);

/// <summary>
/// Auth tokens and call tokens, both compact JWTs signed HS256 by a <see cref="KeyRing"/> of their own, told apart by
/// the header's <c>typ</c> (auth tokens <c>at+jwt</c>, call tokens <c>call+jwt</c> with <c>aud</c>), so neither passes
/// as the other. Auth tokens are checked on connect from their signature and expiry alone, with no grain call per
/// message; revocation moves the user's generation on, which the user grain checks when a device registers, and the
/// open sockets are closed by a push.
/// </summary>
public sealed class Tokens
{
    // What every auth token looked like before keys had ids: still accepted for the key with id "default", so
    // upgrading logs nobody out.
    private const string LegacyHeader = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";

    private readonly KeyRing _auth;
    private readonly KeyRing _call;
    private readonly byte[] _cursorKey;
    private readonly byte[] _adminDigest;
    private readonly byte[] _digestKey = RandomNumberGenerator.GetBytes(32);
    private readonly AuthOptions _options;
    private readonly TimeProvider _time;

    public Tokens(IOptions<AuthOptions> options, [FromKeyedServices(GatewayHosting.ClockKey)] TimeProvider time)
    {
        _options = options.Value;
        _time = time;
        var admin = Encoding.UTF8.GetBytes(_options.AdminKey ?? throw new InvalidOperationException("Auth:AdminKey is not set"));
        _auth = new KeyRing(Keys(_options.TokenKeys, _options.TokenKey, admin, "callgrains/auth-token"u8), "at+jwt", LegacyHeader);
        _call = new KeyRing(Keys(_options.CallTokenKeys, _options.CallTokenKey, admin, "callgrains/call-token"u8), "call+jwt");
        _adminDigest = HMACSHA256.HashData(_digestKey, admin);

        // Derived from the auth token key that signs, which every host of a cluster shares: a cursor works on any of
        // them (a cursor outlives a rotation only as a page that must be asked for again).
        _cursorKey = HMACSHA256.HashData(_auth.SigningSecret, "callgrains/log-cursor"u8);
    }

    /// <summary>The id of the key new auth tokens are signed with (the <c>kid</c> of their header).</summary>
    public string AuthKeyId => _auth.SigningKeyId;

    /// <summary>
    /// A ring's keys, newest first: the listed ones, then the single key as <c>default</c>; with neither, one derived
    /// from the admin key.
    /// </summary>
    private static List<(string Id, byte[] Key)> Keys(SigningKey[] listed, string? single, byte[] admin, ReadOnlySpan<byte> purpose)
    {
        List<(string, byte[])> keys = [.. listed.Select(k => (k.Id, Encoding.UTF8.GetBytes(k.Key)))];
        if (single is { Length: > 0 })
        {
            keys.Add((KeyRing.DefaultId, Encoding.UTF8.GetBytes(single)));
        }
        else if (keys.Count == 0)
        {
            keys.Add((KeyRing.DefaultId, HMACSHA256.HashData(admin, purpose)));
        }

        return keys;
    }

    /// <summary>
    /// An opaque, signed cursor for the page of <paramref name="uid"/>'s history after <paramref name="position"/>.
    /// Signed so that a cursor the server did not issue, or issued for another user's log, is refused.
    /// </summary>
    public string IssueCursor(string uid, CallLogPosition position)
    {
        var payload = Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture, $"{position.At}|{position.Key}"));
        return $"{Base64Url.EncodeToString(payload)}.{Base64Url.EncodeToString(CursorMac(uid, payload))}";
    }

    /// <summary>The position a cursor of <see cref="IssueCursor"/> names, or null if this server did not issue it for this user.</summary>
    public CallLogPosition? VerifyCursor(string uid, string cursor)
    {
        var dot = cursor.IndexOf('.', StringComparison.Ordinal);
        if (cursor.Length > 512 || dot <= 0)
        {
            return null;
        }

        try
        {
            var payload = Base64Url.DecodeFromChars(cursor.AsSpan(0, dot));
            if (!CryptographicOperations.FixedTimeEquals(CursorMac(uid, payload), Base64Url.DecodeFromChars(cursor.AsSpan(dot + 1))))
            {
                return null;
            }

            var text = Encoding.UTF8.GetString(payload);
            var bar = text.IndexOf('|', StringComparison.Ordinal);
            return bar > 0 && long.TryParse(text.AsSpan(0, bar), NumberStyles.None, CultureInfo.InvariantCulture, out var at)
                ? new CallLogPosition(at, text[(bar + 1)..])
                : null;
        }
        catch (FormatException)
        {
            return null;
        }
    }

    private byte[] CursorMac(string uid, byte[] payload)
    {
        var input = new byte[Encoding.UTF8.GetByteCount(uid) + 1 + payload.Length];
        var written = Encoding.UTF8.GetBytes(uid, input);
        input[written] = (byte)'\n';
        payload.CopyTo(input, written + 1);
        return HMACSHA256.HashData(_cursorKey, input)[..16];
    }

    /// <summary>The WebSocket subprotocol the server selects when a client offers it (docs/protocol.md, Transport).</summary>
    public const string SubProtocol = "callgrains.v1";

    /// <summary>A browser, which cannot set headers on a WebSocket, may offer its token as the subprotocol <c>callgrains.auth.&lt;token&gt;</c>.</summary>
    public const string AuthSubProtocolPrefix = "callgrains.auth.";

    /// <summary>
    /// The auth token a request carries: <c>Authorization: Bearer</c>, else a <c>callgrains.auth.&lt;token&gt;</c>
    /// subprotocol (kept out of URLs, so out of access logs), else <c>?token=</c>.
    /// </summary>
    public static string? RequestToken(HttpRequest request) =>
        RequestToken(request.Headers.Authorization.FirstOrDefault(), request.Headers.GetCommaSeparatedValues(HeaderNames.SecWebSocketProtocol), request.Query["token"].FirstOrDefault());

    /// <summary>The same, from the parts of a request read without ASP.NET Core (the direct upgrade).</summary>
    public static string? RequestToken(string? authorization, IEnumerable<string> protocols, string? queryToken) =>
        BearerToken(authorization)
        ?? protocols.FirstOrDefault(p => p.StartsWith(AuthSubProtocolPrefix, StringComparison.Ordinal))?[AuthSubProtocolPrefix.Length..]
        ?? queryToken;

    /// <summary>The token of an <c>Authorization: Bearer</c> header, if the request has one.</summary>
    public static string? BearerToken(HttpRequest request) => BearerToken(request.Headers.Authorization.FirstOrDefault());

    private static string? BearerToken(string? header) =>
        header is not null && header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) ? header["Bearer ".Length..].Trim() : null;

    /// <summary>
    /// Compares digests (HMAC under a key of this process) of the presented and the real key: equal lengths, compared in
    /// constant time, so the time taken says nothing about the admin key's length or any prefix of it.
    /// </summary>
    public bool IsAdminKey(string? presented) =>
        presented is not null && CryptographicOperations.FixedTimeEquals(HMACSHA256.HashData(_digestKey, Encoding.UTF8.GetBytes(presented)), _adminDigest);

    public (string Token, DateTimeOffset ExpiresAt) IssueAuthToken(string uid, long generation)
    {
        var now = _time.GetUtcNow();
        var expires = now + _options.TokenLifetime;
        return (_auth.Sign(w =>
        {
            w.WriteString("sub", uid);
            w.WriteNumber("gen", generation);
            w.WriteNumber("iat", now.ToUnixTimeSeconds());
            w.WriteNumber("exp", expires.ToUnixTimeSeconds());
        }), DateTimeOffset.FromUnixTimeSeconds(expires.ToUnixTimeSeconds()));
    }

    /// <summary>The token's claims if its signature holds and it has not expired; null otherwise.</summary>
    public AuthClaims? VerifyAuthToken(string? token)
    {
        if (_auth.Verify(token) is not { } payload)
        {
            return null;
        }

        try
        {
            using var doc = JsonDocument.Parse(payload);
            var root = doc.RootElement;
            var exp = DateTimeOffset.FromUnixTimeSeconds(root.GetProperty("exp").GetInt64());
            if (exp <= _time.GetUtcNow())
            {
                return null;
            }

            return new AuthClaims(root.GetProperty("sub").GetString()!, root.GetProperty("gen").GetInt64(), exp);
        }
        catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            return null;
        }
    }

    /// <summary>
    /// PROTOCOL section 6: HS256 with the call token key, claims sub, sid, exp (at most one hour), and aud
    /// (<c>Auth:CallTokenAudience</c>) for the media server to check.
    /// </summary>
    public (string Token, DateTimeOffset ExpiresAt) IssueCallToken(string uid, string sessionId)
    {
        var now = _time.GetUtcNow();
        var lifetime = _options.CallTokenLifetime > TimeSpan.FromHours(1) ? TimeSpan.FromHours(1) : _options.CallTokenLifetime;
        var expires = DateTimeOffset.FromUnixTimeSeconds((now + lifetime).ToUnixTimeSeconds());
        return (_call.Sign(w =>
        {
            w.WriteString("sub", uid);
            w.WriteString("sid", sessionId);
            w.WriteString("aud", _options.CallTokenAudience);
            w.WriteNumber("iat", now.ToUnixTimeSeconds());
            w.WriteNumber("exp", expires.ToUnixTimeSeconds());
        }), expires);
    }

    /// <summary>For tests and media servers written in .NET: the payload of a call token if it verifies and names this audience.</summary>
    public byte[]? VerifyCallToken(string token)
    {
        if (_call.Verify(token) is not { } payload)
        {
            return null;
        }

        try
        {
            using var doc = JsonDocument.Parse(payload);
            return doc.RootElement.TryGetProperty("aud", out var aud) && aud.ValueKind == JsonValueKind.String && aud.GetString() == _options.CallTokenAudience
                ? payload
                : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
