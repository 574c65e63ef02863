using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace CallGrains.Gateway.Auth;

/// <summary>One HS256 key of a rotation list (<c>Auth:TokenKeys</c>, <c>Auth:CallTokenKeys</c>): its id goes in the JWT header as <c>kid</c>.</summary>
public sealed partial class SigningKey
{
    public string Id { get; set; } = "";

    public string Key { get; set; } = "";

    /// <summary>A key id: 1-64 of <c>[A-Za-z0-9._-]</c>, so it needs no escaping in a header.</summary>
    public static bool IsValidId(string? id) => id is not null && IdPattern().IsMatch(id);

    [GeneratedRegex(@"\A[A-Za-z0-9._-]{1,64}\z", RegexOptions.CultureInvariant)]
    private static partial Regex IdPattern();
}

/// <summary>
/// The keys of one kind of token: the first signs, every one verifies. The header of a token must be byte for byte
/// one this ring writes (<c>alg</c> HS256, this ring's <c>typ</c>, a listed <c>kid</c>), so <c>alg: none</c>, another
/// algorithm, an unknown kid or any extra header field is refused before a signature is computed; the signature is
/// then compared in constant time.
/// </summary>
internal sealed class KeyRing
{
    /// <summary>The id of the single-key form (<c>Auth:TokenKey</c>, or the key derived from the admin key).</summary>
    public const string DefaultId = "default";

    private const int MaxTokenLength = 4096;

    private readonly Dictionary<string, byte[]> _byHeader = new(StringComparer.Ordinal);
    private readonly string _signingHeader;

    /// <param name="keys">Newest first: the first signs.</param>
    /// <param name="typ">The header's <c>typ</c>: tells one kind of token from another.</param>
    /// <param name="legacyHeader">A kid-less header issued before keys had ids; accepted for <see cref="DefaultId"/> only.</param>
    public KeyRing(IReadOnlyList<(string Id, byte[] Key)> keys, string typ, string? legacyHeader = null)
    {
        if (keys.Count == 0)
        {
            throw new InvalidOperationException("a key ring needs a key");
        }

        foreach (var (id, key) in keys)
        {
            if (!SigningKey.IsValidId(id))
            {
                throw new InvalidOperationException("a key id must be 1-64 characters of [A-Za-z0-9._-]");
            }

            _byHeader.TryAdd(Header(typ, id), key);
            if (id == DefaultId && legacyHeader is not null)
            {
                _byHeader.TryAdd(Base64Url.EncodeToString(Encoding.UTF8.GetBytes(legacyHeader)), key);
            }
        }

        SigningKeyId = keys[0].Id;
        SigningSecret = keys[0].Key;
        _signingHeader = Header(typ, SigningKeyId);
    }

    public string SigningKeyId { get; }

    public byte[] SigningSecret { get; }

    public string Sign(Action<Utf8JsonWriter> claims)
    {
        var signingInput = $"{_signingHeader}.{Base64Url.EncodeToString(JsonObject(claims))}";
        return $"{signingInput}.{Base64Url.EncodeToString(HMACSHA256.HashData(SigningSecret, Encoding.UTF8.GetBytes(signingInput)))}";
    }

    /// <summary>The payload of a token whose header is one of this ring's and whose signature holds; null otherwise.</summary>
    public byte[]? Verify(string? token)
    {
        if (string.IsNullOrEmpty(token) || token.Length > MaxTokenLength)
        {
            return null;
        }

        var firstDot = token.IndexOf('.', StringComparison.Ordinal);
        var lastDot = token.LastIndexOf('.');
        if (firstDot <= 0 || lastDot <= firstDot || token.AsSpan(firstDot + 1, lastDot - firstDot - 1).Contains('.')
            || !_byHeader.TryGetValue(token[..firstDot], out var key))
        {
            return null;
        }

        try
        {
            var expected = HMACSHA256.HashData(key, Encoding.UTF8.GetBytes(token[..lastDot]));
            return CryptographicOperations.FixedTimeEquals(expected, Base64Url.DecodeFromChars(token.AsSpan(lastDot + 1)))
                ? Base64Url.DecodeFromChars(token.AsSpan(firstDot + 1, lastDot - firstDot - 1))
                : null;
        }
        catch (FormatException)
        {
            return null;
        }
    }

    // Written by hand: typ and kid need no escaping (kid is checked), and a JSON writer would escape the '+' of "at+jwt".
    private static string Header(string typ, string kid) =>
        Base64Url.EncodeToString(Encoding.UTF8.GetBytes($"{{\"alg\":\"HS256\",\"typ\":\"{typ}\",\"kid\":\"{kid}\"}}"));

    private static byte[] JsonObject(Action<Utf8JsonWriter> members)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            members(writer);
            writer.WriteEndObject();
        }

        return buffer.ToArray();
    }
}
