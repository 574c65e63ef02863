namespace CallGrains.Cluster.Tests;

/// <summary>What a chaos kill hits: a node that holds client sockets (a co-hosted host or an edge), or a grains-only silo.</summary>
public enum KillTarget
{
    SocketNode,
    Silo,
}
