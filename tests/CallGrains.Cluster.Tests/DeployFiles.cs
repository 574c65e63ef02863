using YamlDotNet.RepresentationModel;

namespace CallGrains.Cluster.Tests;

/// <summary>The repository's deploy files, read as YAML.</summary>
internal static class DeployFiles
{
    public static string Root
    {
        get
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            {
                if (File.Exists(Path.Combine(dir.FullName, "CallGrains.sln")))
                {
                    return dir.FullName;
                }
            }

            throw new InvalidOperationException("repository root not found");
        }
    }

    /// <summary>Every document of every manifest in deploy/k8s.</summary>
    public static List<YamlMappingNode> Kubernetes() =>
        [.. Directory.GetFiles(Path.Combine(Root, "deploy", "k8s"), "*.yaml").Order(StringComparer.Ordinal).SelectMany(LoadAll)];

    public static YamlMappingNode Load(string path) => LoadAll(path).Single();

    public static IEnumerable<YamlMappingNode> LoadAll(string path)
    {
        var stream = new YamlStream();
        using var reader = new StringReader(File.ReadAllText(path));
        stream.Load(reader);
        return stream.Documents.Select(d => (YamlMappingNode)d.RootNode);
    }

    public static YamlMappingNode Named(this List<YamlMappingNode> documents, string kind, string name) =>
        documents.Single(d => d["kind"].ToString() == kind && ((YamlMappingNode)d["metadata"])["name"].ToString() == name);

    /// <summary>The first container of a Deployment's or StatefulSet's pod template.</summary>
    public static YamlMappingNode Container(this YamlMappingNode workload) =>
        (YamlMappingNode)((YamlSequenceNode)((YamlMappingNode)((YamlMappingNode)((YamlMappingNode)workload["spec"])["template"])["spec"])["containers"])[0];

    public static List<string> Strings(this YamlNode sequence) => [.. ((YamlSequenceNode)sequence).Select(n => n.ToString())];
}
