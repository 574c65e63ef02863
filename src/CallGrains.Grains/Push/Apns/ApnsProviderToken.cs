using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace CallGrains.Grains.Push.Apns;

/// <summary>
/// The APNs provider token: an ES256 JWT (<c>kid</c> = key id, <c>iss</c> = team id, <c>iat</c>) signed with the .p8
/// key. APNs refuses a token older than an hour and answers <c>TooManyProviderTokenUpdates</c> to one replaced more
/// often than every 20 minutes, so one token serves every push for <see cref="Lifetime"/> and a fresh one after a refusal
/// is minted only if the current one is at least <see cref="MinRefreshInterval"/> old. Thread-safe.
/// </summary>
public sealed class ApnsProviderToken : IDisposable
{
    public static readonly TimeSpan Lifetime = TimeSpan.FromMinutes(40);

    public static readonly TimeSpan MinRefreshInterval = TimeSpan.FromMinutes(20);

    private readonly ECDsa _key;
    private readonly string _header;
    private readonly string _teamId;
    private readonly TimeProvider _time;
    private readonly Lock _lock = new();
    private string? _token;
    private DateTimeOffset _issuedAt;

    public ApnsProviderToken(string teamId, string keyId, string privateKeyPath, TimeProvider time)
    {
        _key = LoadKey(privateKeyPath);
        _teamId = teamId;
        _time = time;
        _header = Base64Url(JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, string> { ["alg"] = "ES256", ["kid"] = keyId }));
    }

    /// <summary>Raised with the new token's issue time whenever one is minted (logs and tests count them).</summary>
    public event Action<DateTimeOffset>? Minted;

    /// <summary>The token to send: the current one while younger than <see cref="Lifetime"/>, else a fresh one.</summary>
    public string Current
    {
        get
        {
            lock (_lock)
            {
                return _token is not null && _time.GetUtcNow() - _issuedAt < Lifetime ? _token : Mint();
            }
        }
    }

    /// <summary>
    /// After APNs refused <paramref name="refused"/>: the token to try instead, or null if none may be minted yet (the
    /// current one is younger than <see cref="MinRefreshInterval"/>); <paramref name="wait"/> says for how long.
    /// Concurrent callers refused the same token share one new token.
    /// </summary>
    public string? Replace(string refused, out TimeSpan wait)
    {
        lock (_lock)
        {
            wait = TimeSpan.Zero;
            if (_token is not null && _token != refused)
            {
                return _token;
            }

            var age = _time.GetUtcNow() - _issuedAt;
            if (_token is not null && age < MinRefreshInterval)
            {
                wait = MinRefreshInterval - age;
                return null;
            }

            return Mint();
        }
    }

    /// <summary>Reads an EC P-256 private key from a PEM file (the .p8 Apple hands out is PKCS#8 PEM).</summary>
    public static ECDsa LoadKey(string path)
    {
        var key = ECDsa.Create();
        try
        {
            key.ImportFromPem(File.ReadAllText(path));
            if (key.KeySize != 256 || key.ExportParameters(false).Curve.Oid.Value != ECCurve.NamedCurves.nistP256.Oid.Value)
            {
                throw new CryptographicException("not a P-256 key");
            }

            return key;
        }
        catch
        {
            key.Dispose();
            throw;
        }
    }

    public void Dispose() => _key.Dispose();

    private string Mint()
    {
        var now = _time.GetUtcNow();
        var claims = Base64Url(JsonSerializer.SerializeToUtf8Bytes(new { iss = _teamId, iat = now.ToUnixTimeSeconds() }));
        var signingInput = $"{_header}.{claims}";

        // .NET's default signature format for ECDsa is IEEE P1363 (r || s, 64 bytes for P-256): what JWS ES256 wants.
        var signature = _key.SignData(Encoding.ASCII.GetBytes(signingInput), HashAlgorithmName.SHA256);
        _token = $"{signingInput}.{Base64Url(signature)}";
        _issuedAt = now;
        Minted?.Invoke(now);
        return _token;
    }

    private static string Base64Url(ReadOnlySpan<byte> bytes) => System.Buffers.Text.Base64Url.EncodeToString(bytes);
}
