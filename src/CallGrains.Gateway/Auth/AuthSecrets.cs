using System.Text;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace CallGrains.Gateway.Auth;

/// <summary>
/// Outside Development the keys that open the admin API and sign tokens must be real secrets: at least
/// <see cref="MinBytes"/> bytes and none of the placeholders the deploy files and docs show. Development keeps its
/// generated admin key. In every environment the key lists must be well formed and no key may serve two purposes
/// (auth tokens, call tokens, the admin key). The failure names the setting, never its value.
/// </summary>
public sealed class AuthSecrets(IHostEnvironment environment) : IValidateOptions<AuthOptions>
{
    public const int MinBytes = 32;

    // Compared with letters and digits only, lowercased: "change-me-to-a-long-random-string" is "changemetoalong...".
    private static readonly string[] Placeholders = ["changeme", "replaceme", "placeholder", "somelongsecret", "yoursecret"];

    public ValidateOptionsResult Validate(string? name, AuthOptions options)
    {
        List<string> failures = [.. Rings(options)];
        if (string.IsNullOrWhiteSpace(options.CallTokenAudience))
        {
            failures.Add("Auth:CallTokenAudience must not be empty");
        }

        if (!environment.IsDevelopment())
        {
            foreach (var (setting, value) in options.AuthKeySettings().Concat(options.CallKeySettings()).Prepend(("Auth:AdminKey", options.AdminKey)))
            {
                if (Problem(value) is { } problem)
                {
                    failures.Add($"{setting} {problem}");
                }
            }
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    /// <summary>
    /// In every environment: listed keys have an id and a key, ids are unique in their list, and no key signs both
    /// kinds of token (an auth token must never verify as a call token at a media server, nor the other way).
    /// </summary>
    private static IEnumerable<string> Rings(AuthOptions options)
    {
        foreach (var (setting, keys) in new[] { ("Auth:TokenKeys", options.TokenKeys), ("Auth:CallTokenKeys", options.CallTokenKeys) })
        {
            for (var i = 0; i < keys.Length; i++)
            {
                if (!SigningKey.IsValidId(keys[i].Id))
                {
                    yield return $"{setting}:{i}:Id must be 1-64 characters of [A-Za-z0-9._-]";
                }
                else if (keys.Take(i).Any(k => k.Id == keys[i].Id))
                {
                    yield return $"{setting}:{i}:Id repeats an id listed before it";
                }

                if (string.IsNullOrEmpty(keys[i].Key))
                {
                    yield return $"{setting}:{i}:Key is empty";
                }
            }
        }

        // The call token key is handed to media servers: it must not open the admin API as well.
        foreach (var (setting, _) in options.AuthKeySettings().Concat(options.CallKeySettings()).Where(s => !string.IsNullOrEmpty(s.Key) && s.Key == options.AdminKey))
        {
            yield return $"{setting} must differ from Auth:AdminKey";
        }

        foreach (var (authSetting, authKey) in options.AuthKeySettings().Where(s => !string.IsNullOrEmpty(s.Key)))
        {
            foreach (var (callSetting, _) in options.CallKeySettings().Where(s => s.Key == authKey))
            {
                yield return $"{callSetting} must differ from {authSetting}: one key must not sign both auth tokens and call tokens";
            }
        }
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
