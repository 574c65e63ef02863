using System.ComponentModel.DataAnnotations;
using System.Security.Cryptography;
using Microsoft.Extensions.Options;

namespace CallGrains.Grains.Push.Apns;

/// <summary>The <c>Push:Apns</c> section (PROTOCOL section 10): token-based auth with a .p8 key. Unset, APNs is off.</summary>
public sealed class ApnsOptions
{
    public const string Section = "Push:Apns";

    public const string Production = "https://api.push.apple.com";

    public const string Sandbox = "https://api.sandbox.push.apple.com";

    /// <summary>The 10-character Team ID of the Apple developer account: the JWT's <c>iss</c>.</summary>
    [RegularExpression(@"\A[A-Za-z0-9]{10}\z", ErrorMessage = "Push:Apns:TeamId is the 10-character Team ID of the developer account")]
    public string? TeamId { get; set; }

    /// <summary>The 10-character Key ID of the APNs auth key: the JWT's <c>kid</c>.</summary>
    [RegularExpression(@"\A[A-Za-z0-9]{10}\z", ErrorMessage = "Push:Apns:KeyId is the 10-character Key ID of the APNs auth key")]
    public string? KeyId { get; set; }

    /// <summary>The <c>AuthKey_&lt;KeyId&gt;.p8</c> file: a PKCS#8 PEM of an EC P-256 private key.</summary>
    public string? PrivateKeyPath { get; set; }

    /// <summary>The app's bundle id; VoIP pushes go to <c>&lt;Topic&gt;.voip</c>.</summary>
    [RegularExpression(@"\A[A-Za-z0-9.-]{1,200}\z", ErrorMessage = "Push:Apns:Topic is the app's bundle id, such as com.example.phone")]
    public string? Topic { get; set; }

    /// <summary>Production by default; <see cref="Sandbox"/> for development builds; an <c>http://</c> address speaks HTTP/2 without TLS (an emulator).</summary>
    [Required]
    public Uri Endpoint { get; set; } = new(Production);

    /// <summary>One attempt (connect, send, answer) gives up after this and counts as worth retrying.</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "00:05:00")]
    public TimeSpan AttemptTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>All four of TeamId, KeyId, PrivateKeyPath and Topic are set (the validator refuses some without the others).</summary>
    public bool IsConfigured =>
        !string.IsNullOrEmpty(TeamId) && !string.IsNullOrEmpty(KeyId) && !string.IsNullOrEmpty(PrivateKeyPath) && !string.IsNullOrEmpty(Topic);
}

/// <summary>
/// What attributes cannot say: all or none of the four settings, an absolute http(s) endpoint, a topic without the
/// <c>.voip</c> suffix (added per push), and a key file that holds an EC P-256 private key, checked at start rather than
/// at the first call that should have rung a phone.
/// </summary>
public sealed class ApnsOptionsValidator : IValidateOptions<ApnsOptions>
{
    public ValidateOptionsResult Validate(string? name, ApnsOptions options)
    {
        string?[] required = [options.TeamId, options.KeyId, options.PrivateKeyPath, options.Topic];
        if (!options.IsConfigured)
        {
            return required.All(string.IsNullOrEmpty)
                ? ValidateOptionsResult.Success
                : ValidateOptionsResult.Fail("Push:Apns needs all of TeamId, KeyId, PrivateKeyPath and Topic, or none (APNs off)");
        }

        var failures = new List<string>();
        if (!options.Endpoint.IsAbsoluteUri || options.Endpoint.Scheme is not ("https" or "http"))
        {
            failures.Add("Push:Apns:Endpoint must be an absolute https:// address (http:// only for a local emulator)");
        }

        if (options.Topic!.EndsWith(".voip", StringComparison.OrdinalIgnoreCase))
        {
            failures.Add("Push:Apns:Topic is the bundle id without .voip (VoIP pushes add it)");
        }

        if (KeyProblem(options.PrivateKeyPath!) is { } problem)
        {
            failures.Add(problem);
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    private static string? KeyProblem(string path)
    {
        try
        {
            using var key = ApnsProviderToken.LoadKey(path);
            return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or CryptographicException)
        {
            // The message names the file, never its contents.
            return $"Push:Apns:PrivateKeyPath {path}: not a readable EC P-256 private key in PEM (.p8) ({e.GetType().Name})";
        }
    }
}
