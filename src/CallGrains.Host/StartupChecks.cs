using CallGrains.Host.Redis;
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

        if (RedisConnections.From(configuration) is not { } connections)
        {
            return "Orleans:Provider=Redis needs ConnectionStrings:Redis (environment: ConnectionStrings__Redis)";
        }

        // A history Redis must be well formed, but need not answer: a node restarting while history is down still
        // serves calls, which is the point of keeping history apart.
        if (connections.SeparateHistory && Parse(connections.History, RedisConnections.HistoryName).Problem is { } historyProblem)
        {
            return historyProblem;
        }

        var (options, problem) = Parse(connections.Cluster, RedisConnections.ClusterName);
        if (options is null)
        {
            return problem;
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
            var at = $"Redis at {string.Join(",", options.EndPoints.Select(EndPointCollection.ToString))}";
            return ex is RedisConnectionException { FailureType: ConnectionFailureType.AuthenticationFailure }
                || (ex is RedisServerException && ex.Message.StartsWith("NOAUTH", StringComparison.Ordinal))
                ? $"{at} refused the credentials (user=, password= in ConnectionStrings:Redis)"
                : $"{at} is unreachable ({ex.GetType().Name})";
        }
    }

    private static (ConfigurationOptions? Options, string? Problem) Parse(string connection, string name)
    {
        try
        {
            return (ConfigurationOptions.Parse(connection), null);
        }
        catch (ArgumentException)
        {
            // The parser's message may quote the string, password and all.
            return (null, $"ConnectionStrings:{name} is not a valid Redis connection string");
        }
    }

    /// <summary>A one-line reason for the failures a person can fix by configuration; null for real bugs.</summary>
    public static string? Explain(Exception ex) => ex switch
    {
        OptionsValidationException validation => string.Join("; ", validation.Failures),
        // A setting that does not parse (Orleans:Role=edgee): the binder names the setting and the value.
        InvalidOperationException { InnerException: FormatException format } conversion => $"{conversion.Message} {format.Message}",
        AggregateException { InnerExceptions.Count: > 0 } aggregate => aggregate.InnerExceptions.Select(Explain).FirstOrDefault(e => e is not null),
        IOException { InnerException: Microsoft.AspNetCore.Connections.AddressInUseException } io => io.Message,
        RedisConnectionException redis => $"Redis is unreachable: {redis.Message}",
        _ when ex.InnerException is { } inner => Explain(inner),
        _ => null,
    };
}
