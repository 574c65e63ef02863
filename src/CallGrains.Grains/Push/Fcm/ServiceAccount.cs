using System.Security.Cryptography;
using System.Text.Json;

namespace CallGrains.Grains.Push.Fcm;

/// <summary>
/// A Google service account key file, read once. The token address is the file's <c>token_uri</c> (PROTOCOL section
/// 10), so a local emulator stands in for Google by a file that names it.
/// </summary>
internal sealed class ServiceAccount : IDisposable
{
    public const string DefaultTokenUri = "https://oauth2.googleapis.com/token";

    private ServiceAccount(string clientEmail, RSA key, string? keyId, Uri tokenUri, string? projectId)
    {
        ClientEmail = clientEmail;
        Key = key;
        KeyId = keyId;
        TokenUri = tokenUri;
        ProjectId = projectId;
    }

    public string ClientEmail { get; }

    public RSA Key { get; }

    public string? KeyId { get; }

    public Uri TokenUri { get; }

    public string? ProjectId { get; }

    /// <summary>Reads and checks the file; every problem is an <see cref="InvalidOperationException"/> whose message never quotes the key.</summary>
    public static ServiceAccount Read(string path)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(File.ReadAllBytes(path));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or JsonException)
        {
            throw new InvalidOperationException($"cannot read the service account file ({e.GetType().Name})", e);
        }

        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object || Text(root, "type") != "service_account")
            {
                throw new InvalidOperationException("the file is not a service account key (\"type\": \"service_account\")");
            }

            var clientEmail = Text(root, "client_email") ?? throw new InvalidOperationException("client_email is missing");
            var pem = Text(root, "private_key") ?? throw new InvalidOperationException("private_key is missing");
            var tokenUriText = Text(root, "token_uri") ?? DefaultTokenUri;
            if (!Uri.TryCreate(tokenUriText, UriKind.Absolute, out var tokenUri) || (tokenUri.Scheme != Uri.UriSchemeHttps && tokenUri.Scheme != Uri.UriSchemeHttp))
            {
                throw new InvalidOperationException("token_uri is not an absolute http:// or https:// address");
            }

            var key = RSA.Create();
            try
            {
                key.ImportFromPem(pem);
            }
            catch (Exception e) when (e is ArgumentException or CryptographicException)
            {
                key.Dispose();
                throw new InvalidOperationException("private_key is not an RSA private key in PEM", e);
            }

            return new ServiceAccount(clientEmail, key, Text(root, "private_key_id"), tokenUri, Text(root, "project_id"));
        }
    }

    public void Dispose() => Key.Dispose();

    private static string? Text(JsonElement root, string name) =>
        root.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String && value.GetString() is { Length: > 0 } text ? text : null;
}
