namespace CallGrains.LocalCluster;

/// <summary>
/// The runtime settings the host's image sets as environment variables (deploy/Dockerfile; `dotnet run` takes them
/// from the host's launchSettings.json), so that hosts started here for tests and benchmarks run as deployed ones do.
/// They are environment variables because the .NET runtime reads these only from the environment, not from the
/// host's runtimeconfig.json.
/// </summary>
public static class HostRuntime
{
    /// <summary>
    /// <c>DOTNET_GCgen0size</c>: a 16 MiB generation-0 budget instead of the 2-6 MiB the runtime picks here. A host
    /// spent 8-10% of its time in gen0 pauses at 1,000 calls/s, each mostly a fixed cost of the collection (~2.2 ms
    /// however little survived); with 16 MiB a sixth as many pauses (docs/benchmarks.md, issue 22 session 21).
    /// </summary>
    public static IReadOnlyDictionary<string, string> Environment { get; } = new Dictionary<string, string>
    {
        ["DOTNET_GCgen0size"] = "0x1000000",
    };
}
