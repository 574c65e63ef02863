namespace CallGrains.Host.Redis;

/// <summary>
/// The Redis connection strings of a node. <c>ConnectionStrings:Redis</c> holds what the cluster cannot lose or do
/// without (membership, grain state, the ring, grace and presence indexes); <c>ConnectionStrings:RedisHistory</c>, when
/// set, holds call history alone, so a history Redis that fills up or goes down cannot take membership with it
/// (docs/deployment.md).
/// </summary>
public sealed record RedisConnections(string Cluster, string History)
{
    public const string ClusterName = "Redis";

    public const string HistoryName = "RedisHistory";

    public bool SeparateHistory => !string.Equals(Cluster, History, StringComparison.Ordinal);

    /// <summary>The node's connection strings, or null when <c>ConnectionStrings:Redis</c> is not set.</summary>
    public static RedisConnections? From(IConfiguration configuration) =>
        configuration.GetConnectionString(ClusterName) is { Length: > 0 } cluster
            ? new(cluster, configuration.GetConnectionString(HistoryName) is { Length: > 0 } history ? history : cluster)
            : null;
}
