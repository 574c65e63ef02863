using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Google.Apis.Auth.OAuth2;
using Google.Apis.Auth.OAuth2.Requests;
using Google.Apis.Http;
using Google.Apis.Util;

namespace CallGrains.Grains.Push.Fcm;

/// <summary>
/// OAuth2 access tokens for FCM from a service account, by Google.Apis.Auth: it posts the JWT-bearer grant to the
/// file's <c>token_uri</c>, parses the answer, and caches the token until shortly before it expires (refreshed in the
/// background from 3 min 45 s before, waited for only in its last minute; concurrent sends share one refresh). The credential
/// is built from the file here rather than by <c>GoogleCredential.FromFile</c> so that it runs on our clock and our
/// HTTP handler; and the assertion is signed here, because 1.78.0 signs <c>aud</c> = Google's own token address
/// whatever <c>token_uri</c> says, where PROTOCOL 10 makes <c>token_uri</c> the token address (an emulator checks it).
/// </summary>
internal sealed class FcmAccessTokens
{
    public const string Scope = "https://www.googleapis.com/auth/firebase.messaging";

    private readonly ServiceAccountCredential _credential;
    private readonly Lock _gate = new();

    public FcmAccessTokens(ServiceAccount account, TimeProvider time, Func<HttpMessageHandler> handler)
    {
        var initializer = new ServiceAccountCredential.Initializer(account.ClientEmail, account.TokenUri.AbsoluteUri)
        {
            Key = account.Key,
            KeyId = account.KeyId,
            Scopes = [Scope],
            Clock = new Clock(time),
            HttpClientFactory = new HandlerFactory(handler),

            // Retries belong to the push's own retry loop (PushRetry), which knows when the push stops being useful.
            DefaultExponentialBackOffPolicy = ExponentialBackOffPolicy.None,
        };
        _credential = new Credential(initializer);
    }

    public Task<string> GetAsync(CancellationToken cancellationToken) =>
        _credential.GetAccessTokenForRequestAsync(authUri: null, cancellationToken);

    /// <summary>
    /// FCM refused <paramref name="used"/>: forget it, unless another send has already replaced it, so that many sends
    /// refused at once cost one new grant.
    /// </summary>
    public void Invalidate(string used)
    {
        lock (_gate)
        {
            if (_credential.Token?.AccessToken == used)
            {
                _credential.Token = null;
            }
        }
    }

    /// <summary>The JWT-bearer grant of RFC 7523 as Google takes it: RS256, <c>iss</c> the account, <c>aud</c> the token address, one hour at most.</summary>
    private sealed class Credential(ServiceAccountCredential.Initializer initializer) : ServiceAccountCredential(initializer)
    {
        private static readonly TimeSpan AssertionLifetime = TimeSpan.FromHours(1);

        public override async Task<bool> RequestAccessTokenAsync(CancellationToken taskCancellationToken)
        {
            var request = new GoogleAssertionTokenRequest { Assertion = Assertion() };
            Token = await request.ExecuteAsync(HttpClient, TokenServerUrl, taskCancellationToken, Clock);
            return true;
        }

        private string Assertion()
        {
            var issued = new DateTimeOffset(Clock.UtcNow).ToUnixTimeSeconds();
            var header = Encode(new JsonObject { ["alg"] = "RS256", ["typ"] = "JWT", ["kid"] = KeyId });
            var claims = Encode(new JsonObject
            {
                ["iss"] = Id,
                ["scope"] = string.Join(' ', Scopes),
                ["aud"] = TokenServerUrl,
                ["iat"] = issued,
                ["exp"] = issued + (long)AssertionLifetime.TotalSeconds,
            });
            var signed = $"{header}.{claims}";
            var signature = Key.SignData(Encoding.ASCII.GetBytes(signed), HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
            return $"{signed}.{Base64Url.EncodeToString(signature)}";
        }

        private static string Encode(JsonObject json) => Base64Url.EncodeToString(Encoding.UTF8.GetBytes(json.ToJsonString()));
    }

    private sealed class Clock(TimeProvider time) : IClock
    {
        public DateTime Now => time.GetLocalNow().DateTime;

        public DateTime UtcNow => time.GetUtcNow().UtcDateTime;
    }

    private sealed class HandlerFactory(Func<HttpMessageHandler> handler) : HttpClientFactory
    {
        protected override HttpMessageHandler CreateHandler(CreateHttpClientArgs args) => handler();
    }
}
