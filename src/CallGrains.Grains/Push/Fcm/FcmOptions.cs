using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace CallGrains.Grains.Push.Fcm;

/// <summary>The <c>Push:Fcm</c> section (PROTOCOL section 10). Neither <see cref="ProjectId"/> nor <see cref="ServiceAccountPath"/> set: FCM is off.</summary>
public sealed class FcmOptions
{
    public const string Section = "Push:Fcm";

    /// <summary>The Firebase project; empty: the service account file's <c>project_id</c>.</summary>
    [RegularExpression("^[A-Za-z0-9.:_-]{1,100}$")]
    public string? ProjectId { get; set; }

    /// <summary>The Google service account JSON (<c>client_email</c>, <c>private_key</c>, <c>private_key_id</c>, <c>token_uri</c>).</summary>
    public string? ServiceAccountPath { get; set; }

    /// <summary>FCM's address; an <c>http://</c> one (a local emulator) is spoken to in HTTP/1.1.</summary>
    [Required]
    public Uri Endpoint { get; set; } = new("https://fcm.googleapis.com");

    /// <summary>One attempt (access token, send, and the one resend after a 401) gives up after this long and is retried.</summary>
    [Range(1, 300)]
    public int AttemptTimeoutSeconds { get; set; } = 10;

    public bool IsConfigured => !string.IsNullOrWhiteSpace(ProjectId) || !string.IsNullOrWhiteSpace(ServiceAccountPath);
}

/// <summary>Checks at start what the attributes cannot: the service account file is there and holds a usable key.</summary>
internal sealed class FcmOptionsValidator : IValidateOptions<FcmOptions>
{
    public ValidateOptionsResult Validate(string? name, FcmOptions options)
    {
        if (string.IsNullOrWhiteSpace(options.ServiceAccountPath))
        {
            return ValidateOptionsResult.Fail("Push:Fcm:ServiceAccountPath is required when Push:Fcm is configured");
        }

        if (options.Endpoint is not { IsAbsoluteUri: true } endpoint || (endpoint.Scheme != Uri.UriSchemeHttps && endpoint.Scheme != Uri.UriSchemeHttp))
        {
            return ValidateOptionsResult.Fail("Push:Fcm:Endpoint must be an absolute http:// or https:// address");
        }

        try
        {
            using var account = ServiceAccount.Read(options.ServiceAccountPath);
            return string.IsNullOrWhiteSpace(options.ProjectId) && account.ProjectId is null
                ? ValidateOptionsResult.Fail("Push:Fcm:ProjectId is required: the service account file names no project_id")
                : ValidateOptionsResult.Success;
        }
        catch (InvalidOperationException e)
        {
            return ValidateOptionsResult.Fail($"Push:Fcm:ServiceAccountPath: {e.Message}");
        }
    }
}
