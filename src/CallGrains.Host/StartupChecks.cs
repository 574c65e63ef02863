using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace CallGrains.Host;

/// <summary>Checks a node can do before it starts a silo, and one-line explanations of what stops it.</summary>
public static class StartupChecks
{
    /// <summary>With the Redis provider, Redis must answer before anything starts; returns the problem, or null.</summary>
    public static async Task<string?> RunAsync(string[] args)
    {
        var configuration = new ConfigurationBuilder()
            .AddJsonFile("appsettings.json", optional: true)
            .AddEnvironmentVariables()
            .AddCommandLine(args)
            .Build();
        var silo = configuration.GetSection(SiloOptions.Section);
        if (!string.Equals(silo["Provider"], nameof(SiloProvider.Redis), StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }

        var connection = configuration.GetConnectionString("Redis");
        if (string.IsNullOrWhiteSpace(connection))
        {
            return "Orleans:Provider=Redis needs ConnectionStrings:Redis (environment: ConnectionStrings__Redis)";
        }

        ConfigurationOptions options;
        try
        {
            options = ConfigurationOptions.Parse(connection);
        }
        catch (ArgumentException)
        {
            // The parser's message may quote the string, password and all.
            return "ConnectionStrings:Redis is not a valid Redis connection string";
        }

        try
        {
            options.AbortOnConnectFail = true;
            options.ConnectTimeout = 5000;
            options.ConnectRetry = 1;
            await using var redis = await ConnectionMultiplexer.ConnectAsync(options);
            await redis.GetDatabase().PingAsync();
            return null;
        }
        catch (Exception ex) when (ex is RedisException or ArgumentException or TimeoutException)
        {
            // Endpoints only: the connection string may hold a password.
            return $"Redis at {string.Join(",", options.EndPoints.Select(EndPointCollection.ToString))} is unreachable ({ex.GetType().Name})";
        }
    }

    /// <summary>A one-line reason for the failures a person can fix by configuration; null for real bugs.</summary>
    public static string? Explain(Exception ex) => ex switch
    {
        OptionsValidationException validation => string.Join("; ", validation.Failures),
        AggregateException { InnerExceptions.Count: > 0 } aggregate => aggregate.InnerExceptions.Select(Explain).FirstOrDefault(e => e is not null),
        IOException { InnerException: Microsoft.AspNetCore.Connections.AddressInUseException } io => io.Message,
        RedisConnectionException redis => $"Redis is unreachable: {redis.Message}",
        _ when ex.InnerException is { } inner => Explain(inner),
        _ => null,
    };
}
