using System.Text;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace CallGrains.Gateway.Auth;

/// <summary>
/// Outside Development the keys that open the admin API and sign tokens must be real secrets: at least
/// <see cref="MinBytes"/> bytes and none of the placeholders the deploy files and docs show. Development keeps its
/// generated admin key. The failure names the setting, never its value.
/// </summary>
internal sealed class AuthSecrets(IHostEnvironment environment) : IValidateOptions<AuthOptions>
{
    public const int MinBytes = 32;

    // Compared with letters and digits only, lowercased: "change-me-to-a-long-random-string" is "changemetoalong...".
    private static readonly string[] Placeholders = ["changeme", "replaceme", "placeholder", "somelongsecret", "yoursecret"];

    public ValidateOptionsResult Validate(string? name, AuthOptions options)
    {
        if (environment.IsDevelopment())
        {
            return ValidateOptionsResult.Success;
        }

        List<string> failures = [];
        foreach (var (setting, value) in new[] { ("Auth:AdminKey", options.AdminKey), ("Auth:TokenKey", options.TokenKey), ("Auth:CallTokenKey", options.CallTokenKey) })
        {
            if (Problem(value) is { } problem)
            {
                failures.Add($"{setting} {problem}");
            }
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    /// <summary>What is wrong with a configured secret; null if it is fine or not set (unset keys are judged elsewhere).</summary>
    public static string? Problem(string? secret)
    {
        if (string.IsNullOrEmpty(secret))
        {
            return null;
        }

        var normalized = new string([.. secret.Where(char.IsAsciiLetterOrDigit).Select(char.ToLowerInvariant)]);
        if (Placeholders.Any(p => normalized.Contains(p, StringComparison.Ordinal)) || secret.Distinct().Count() < 8)
        {
            return "is a placeholder: set a random secret (e.g. openssl rand -hex 32)";
        }

        return Encoding.UTF8.GetByteCount(secret) < MinBytes
            ? $"must be at least {MinBytes} bytes outside Development (e.g. openssl rand -hex 32)"
            : null;
    }
}
