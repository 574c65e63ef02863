using System.Buffers.Text;
using System.Text.Json;
using CallGrains.Gateway.Auth;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace CallGrains.Gateway.Tests;

/// <summary>Token keys in rotation, call tokens apart from auth tokens, and the settings that would mix them up.</summary>
public sealed class TokenTests
{
    private const string Old = "token-tests-old-key-0123456789abcdef";
    private const string New = "token-tests-new-key-fedcba9876543210";
    private const string Call = "token-tests-call-key-a1b2c3d4e5f6a7b8";

    [Fact]
    public void A_token_of_a_retired_key_verifies_while_the_key_is_listed_and_fails_once_it_is_removed()
    {
        var token = Issuer(Key("k1", Old)).IssueAuthToken("alice", 3).Token;

        var rotated = Issuer(Key("k2", New), Key("k1", Old)).VerifyAuthToken(token);
        var retired = Issuer(Key("k2", New)).VerifyAuthToken(token);

        Assert.Equal(("alice", 3L), (rotated!.Value.Uid, rotated.Value.Generation));
        Assert.Null(retired);
        Assert.Equal("k2", Header(Issuer(Key("k2", New), Key("k1", Old)).IssueAuthToken("alice", 3).Token).GetProperty("kid").GetString());
    }

    [Fact]
    public void The_single_key_form_keeps_working_and_hands_over_to_a_listed_key()
    {
        var single = Issuer(tokenKey: Old);
        var before = single.IssueAuthToken("bob", 0).Token;
        var rotating = Issuer(tokenKey: Old, keys: [Key("k2", New)]);

        Assert.Equal("default", single.AuthKeyId);
        Assert.NotNull(rotating.VerifyAuthToken(before));
        Assert.Equal("k2", Header(rotating.IssueAuthToken("bob", 0).Token).GetProperty("kid").GetString());
    }

    [Fact]
    public void Tokens_issued_before_keys_had_ids_still_verify_with_the_default_key_only()
    {
        var payload = $"{{\"sub\":\"carol\",\"gen\":0,\"iat\":0,\"exp\":{DateTimeOffset.UtcNow.AddHours(1).ToUnixTimeSeconds()}}}";
        var legacy = SecurityNodeTests.Forge("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", payload, Old, "HS256");

        Assert.NotNull(Issuer(tokenKey: Old).VerifyAuthToken(legacy));
        Assert.Null(Issuer(Key("k1", Old)).VerifyAuthToken(legacy));
    }

    [Fact]
    public void A_call_token_names_its_audience_and_type_and_never_passes_as_an_auth_token()
    {
        var tokens = new Tokens(Options.Create(new AuthOptions { AdminKey = Admin.DefaultKey, CallTokenKeys = [Key("c1", Call)] }), TimeProvider.System);
        var call = tokens.IssueCallToken("dave", "s1").Token;
        var auth = tokens.IssueAuthToken("dave", 0).Token;

        using var claims = JsonDocument.Parse(tokens.VerifyCallToken(call)!);
        Assert.Equal("callgrains-media", claims.RootElement.Str("aud"));
        Assert.Equal(("call+jwt", "c1"), (Header(call).Str("typ"), Header(call).Str("kid")));
        Assert.Equal("at+jwt", Header(auth).Str("typ"));
        Assert.Null(tokens.VerifyAuthToken(call));
        Assert.Null(tokens.VerifyCallToken(auth));
    }

    [Theory]
    [InlineData("Development")]
    [InlineData("Production")]
    public void One_key_for_auth_and_call_tokens_is_refused_naming_the_settings_not_the_key(string environment)
    {
        var secrets = new AuthSecrets(new HostEnvironment(environment));

        var single = secrets.Validate(null, new AuthOptions { AdminKey = Admin.DefaultKey, TokenKey = Old, CallTokenKey = Old });
        var listed = secrets.Validate(null, new AuthOptions { AdminKey = Admin.DefaultKey, TokenKeys = [Key("k1", New)], CallTokenKeys = [Key("c1", New)] });
        var apart = secrets.Validate(null, new AuthOptions { AdminKey = Admin.DefaultKey, TokenKeys = [Key("k1", New)], CallTokenKeys = [Key("c1", Call)] });
        var admin = secrets.Validate(null, new AuthOptions { AdminKey = Admin.DefaultKey, CallTokenKey = Admin.DefaultKey });

        Assert.Contains("Auth:CallTokenKey must differ from Auth:TokenKey", single.FailureMessage, StringComparison.Ordinal);
        Assert.Contains("Auth:CallTokenKeys:0:Key must differ from Auth:TokenKeys:0:Key", listed.FailureMessage, StringComparison.Ordinal);
        Assert.DoesNotContain(Old, single.FailureMessage, StringComparison.Ordinal);
        Assert.True(apart.Succeeded, apart.FailureMessage);
        Assert.Contains("Auth:CallTokenKey must differ from Auth:AdminKey", admin.FailureMessage, StringComparison.Ordinal);
    }

    [Fact]
    public void Listed_keys_need_ids_that_are_unique()
    {
        var result = new AuthSecrets(new HostEnvironment("Production")).Validate(null, new AuthOptions
        {
            AdminKey = Admin.DefaultKey,
            TokenKeys = [Key("k1", New), Key("k1", Old), Key("bad id", Call)],
        });

        Assert.Contains("Auth:TokenKeys:1:Id repeats", result.FailureMessage, StringComparison.Ordinal);
        Assert.Contains("Auth:TokenKeys:2:Id must be", result.FailureMessage, StringComparison.Ordinal);
    }

    [Fact]
    public void The_admin_key_is_recognised_only_whole()
    {
        var tokens = Issuer();

        Assert.True(tokens.IsAdminKey(Admin.DefaultKey));
        Assert.False(tokens.IsAdminKey(Admin.DefaultKey[..^1]));
        Assert.False(tokens.IsAdminKey(Admin.DefaultKey + "x"));
        Assert.False(tokens.IsAdminKey(""));
    }

    private static SigningKey Key(string id, string key) => new() { Id = id, Key = key };

    private static Tokens Issuer(params SigningKey[] keys) => Issuer(null, keys);

    private static Tokens Issuer(string? tokenKey, SigningKey[]? keys = null) =>
        new(Options.Create(new AuthOptions { AdminKey = Admin.DefaultKey, TokenKey = tokenKey, TokenKeys = keys ?? [] }), TimeProvider.System);

    private static JsonElement Header(string token) =>
        JsonDocument.Parse(Base64Url.DecodeFromChars(token.AsSpan(0, token.IndexOf('.', StringComparison.Ordinal)))).RootElement;

    private sealed class HostEnvironment(string name) : IHostEnvironment
    {
        public string EnvironmentName { get; set; } = name;

        public string ApplicationName { get; set; } = "test";

        public string ContentRootPath { get; set; } = "";

        public Microsoft.Extensions.FileProviders.IFileProvider ContentRootFileProvider { get; set; } = null!;
    }
}
