using System.Buffers.Text;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using CallGrains.Abstractions;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace CallGrains.Gateway.Auth;

/// <summary>A verified auth token: who, which revocation generation, until when.</summary>
public readonly record struct AuthClaims(string Uid, long Generation, DateTimeOffset ExpiresAt);

/// <summary>
/// Auth tokens and call tokens, both compact JWTs signed HS256. Auth tokens are checked on connect from their
/// signature and expiry alone, with no grain call per message; revocation moves the user's generation on, which
/// the user grain checks when a device registers, and the open sockets are closed by a push.
/// </summary>
public sealed class Tokens
{
    private static readonly byte[] Header = Encoding.UTF8.GetBytes(Base64Url.EncodeToString("{\"alg\":\"HS256\",\"typ\":\"JWT\"}"u8));

    private readonly byte[] _authKey;
    private readonly byte[] _callKey;
    private readonly byte[] _cursorKey;
    private readonly AuthOptions _options;
    private readonly TimeProvider _time;

    public Tokens(IOptions<AuthOptions> options, [FromKeyedServices(GatewayHosting.ClockKey)] TimeProvider time)
    {
        _options = options.Value;
        _time = time;
        var admin = Encoding.UTF8.GetBytes(_options.AdminKey ?? throw new InvalidOperationException("Auth:AdminKey is not set"));
        _authKey = _options.TokenKey is { Length: > 0 } k ? Encoding.UTF8.GetBytes(k) : HMACSHA256.HashData(admin, "callgrains/auth-token"u8);
        _callKey = _options.CallTokenKey is { Length: > 0 } c ? Encoding.UTF8.GetBytes(c) : HMACSHA256.HashData(admin, "callgrains/call-token"u8);

        // Derived from the auth token key, which every host of a cluster shares: a cursor works on any of them.
        _cursorKey = HMACSHA256.HashData(_authKey, "callgrains/log-cursor"u8);
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

    /// <summary>The token of an <c>Authorization: Bearer</c> header, if the request has one.</summary>
    public static string? BearerToken(HttpRequest request)
    {
        var header = request.Headers.Authorization.FirstOrDefault();
        return header is not null && header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) ? header["Bearer ".Length..].Trim() : null;
    }

    public bool IsAdminKey(string? presented) =>
        presented is not null && CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(presented), Encoding.UTF8.GetBytes(_options.AdminKey!));

    public (string Token, DateTimeOffset ExpiresAt) IssueAuthToken(string uid, long generation)
    {
        var now = _time.GetUtcNow();
        var expires = now + _options.TokenLifetime;
        return (Sign(_authKey, w =>
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
        if (Verify(_authKey, token) is not { } payload)
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

    /// <summary>PROTOCOL section 6: HS256 with <c>Auth:CallTokenKey</c>, claims sub, sid, exp (at most one hour).</summary>
    public (string Token, DateTimeOffset ExpiresAt) IssueCallToken(string uid, string sessionId)
    {
        var now = _time.GetUtcNow();
        var lifetime = _options.CallTokenLifetime > TimeSpan.FromHours(1) ? TimeSpan.FromHours(1) : _options.CallTokenLifetime;
        var expires = DateTimeOffset.FromUnixTimeSeconds((now + lifetime).ToUnixTimeSeconds());
        return (Sign(_callKey, w =>
        {
            w.WriteString("sub", uid);
            w.WriteString("sid", sessionId);
            w.WriteNumber("iat", now.ToUnixTimeSeconds());
            w.WriteNumber("exp", expires.ToUnixTimeSeconds());
        }), expires);
    }

    /// <summary>For tests and media servers written in .NET: the payload of a call token if it verifies.</summary>
    public byte[]? VerifyCallToken(string token) => Verify(_callKey, token);

    private static string Sign(byte[] key, Action<Utf8JsonWriter> claims)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            claims(writer);
            writer.WriteEndObject();
        }

        var signingInput = $"{Encoding.UTF8.GetString(Header)}.{Base64Url.EncodeToString(buffer.ToArray())}";
        var signature = HMACSHA256.HashData(key, Encoding.UTF8.GetBytes(signingInput));
        return $"{signingInput}.{Base64Url.EncodeToString(signature)}";
    }

    private static byte[]? Verify(byte[] key, string? token)
    {
        if (string.IsNullOrEmpty(token) || token.Length > 4096)
        {
            return null;
        }

        var lastDot = token.LastIndexOf('.');
        var firstDot = token.IndexOf('.', StringComparison.Ordinal);
        if (firstDot <= 0 || lastDot <= firstDot)
        {
            return null;
        }

        try
        {
            var expected = HMACSHA256.HashData(key, Encoding.UTF8.GetBytes(token[..lastDot]));
            var presented = Base64Url.DecodeFromChars(token.AsSpan(lastDot + 1));
            if (!CryptographicOperations.FixedTimeEquals(expected, presented)
                || !token.AsSpan(0, firstDot).SequenceEqual(Encoding.UTF8.GetString(Header)))
            {
                return null;
            }

            return Base64Url.DecodeFromChars(token.AsSpan(firstDot + 1, lastDot - firstDot - 1));
        }
        catch (FormatException)
        {
            return null;
        }
    }
}
