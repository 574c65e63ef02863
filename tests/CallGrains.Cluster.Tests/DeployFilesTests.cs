using System.Text.RegularExpressions;
using YamlDotNet.RepresentationModel;

namespace CallGrains.Cluster.Tests;

/// <summary>
/// No Docker engine runs here, so the deploy files are checked by reading them: every environment name must be a
/// setting the host reads, and ports, commands and probes must agree with the host's configuration.
/// </summary>
public sealed class DeployFilesTests
{
    // Settings the host reads (Section__Key in the environment), and the variables Orleans' Kubernetes hosting reads.
    private static readonly HashSet<string> KnownSettings =
    [
        "Orleans__Provider", "Orleans__Kubernetes", "Orleans__ClusterId", "Orleans__ServiceId", "Orleans__SiloPort",
        "Orleans__GatewayPort", "Orleans__AdvertisedIP", "Orleans__PrimarySiloPort", "Orleans__ProbeTimeoutSeconds",
        "Orleans__MissedProbesLimit", "ConnectionStrings__Redis", "Auth__AdminKey", "Auth__CallTokenKey", "Auth__TokenKey",
        "Auth__TokenLifetime", "Calls__RingTimeoutSeconds", "Calls__DisconnectGraceSeconds", "Calls__MaxGroupRing",
        "Gateway__MessagesPerSecond", "Gateway__MessageBurst", "Gateway__MaxDevicesPerUser", "ASPNETCORE_URLS",
        "ORLEANS_SERVICE_ID", "ORLEANS_CLUSTER_ID", "POD_NAMESPACE", "POD_NAME", "POD_IP",
    ];

    private static string Root
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

    [Fact]
    public void Every_known_setting_is_one_the_host_binds()
    {
        // The host's option classes, read from source, so a renamed option breaks this test.
        var sources = string.Join("\n", Directory.GetFiles(Path.Combine(Root, "src"), "*.cs", SearchOption.AllDirectories).Select(File.ReadAllText));
        foreach (var setting in KnownSettings.Where(s => s.Contains("__", StringComparison.Ordinal) && !s.StartsWith("ConnectionStrings", StringComparison.Ordinal)))
        {
            var key = setting.Split("__")[1];
            Assert.Matches(new Regex($@"public \S+\?? {key} \{{ get; set; \}}"), sources);
        }
    }

    [Fact]
    public void Compose_runs_redis_three_silos_and_the_balancer_with_settings_the_host_knows()
    {
        var compose = Load(Path.Combine(Root, "docker-compose.yml"));
        var services = (YamlMappingNode)compose["services"];
        Assert.True(services.Children.ContainsKey("redis"));
        var silo = (YamlMappingNode)services["silo"];
        Assert.Equal("3", ((YamlMappingNode)silo["deploy"])["replicas"].ToString());
        Assert.Equal("deploy/Dockerfile", ((YamlMappingNode)silo["build"])["dockerfile"].ToString());
        var env = ((YamlMappingNode)silo["environment"]).Children.ToDictionary(k => k.Key.ToString(), v => v.Value.ToString());
        Assert.All(env.Keys, k => Assert.Contains(k, KnownSettings));
        Assert.Equal("Redis", env["Orleans__Provider"]);
        Assert.StartsWith("redis:", env["ConnectionStrings__Redis"], StringComparison.Ordinal);
        Assert.Equal("http://+:8080", env["ASPNETCORE_URLS"]);
        var exposed = ((YamlSequenceNode)silo["expose"]).Select(n => n.ToString()).ToHashSet();
        Assert.Superset(new HashSet<string> { "8080", env["Orleans__SiloPort"], env["Orleans__GatewayPort"] }, exposed);
        var healthcheck = string.Join(" ", ((YamlSequenceNode)((YamlMappingNode)silo["healthcheck"])["test"]).Select(n => n.ToString()));
        Assert.Matches(@"^CMD bash -c .*/dev/tcp/127\.0\.0\.1/8080 .*GET /healthz HTTP/1\.0.* 200 ", healthcheck);
        Assert.Contains("/healthz", HealthPathsTheHostServes());
        var lb = (YamlMappingNode)services["lb"];
        Assert.Contains("./deploy/nginx.conf:/etc/nginx/nginx.conf:ro", ((YamlSequenceNode)lb["volumes"]).Select(n => n.ToString()));
        Assert.Contains("server silo:8080", File.ReadAllText(Path.Combine(Root, "deploy", "nginx.conf")), StringComparison.Ordinal);
    }

    [Fact]
    public void Dockerfile_builds_and_runs_the_host_on_the_ports_the_manifests_use()
    {
        var dockerfile = File.ReadAllText(Path.Combine(Root, "deploy", "Dockerfile"));
        Assert.Contains("dotnet publish src/CallGrains.Host/CallGrains.Host.csproj", dockerfile, StringComparison.Ordinal);
        Assert.Contains("ENTRYPOINT [\"dotnet\", \"CallGrains.Host.dll\"]", dockerfile, StringComparison.Ordinal);
        Assert.Matches(@"EXPOSE 8080 11111 30000", dockerfile);
        Assert.Contains("FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build", dockerfile, StringComparison.Ordinal);
        Assert.True(File.Exists(Path.Combine(Root, "src", "CallGrains.Host", "CallGrains.Host.csproj")));
    }

    [Fact]
    public void Kubernetes_manifests_agree_with_the_host()
    {
        var documents = LoadAll(Path.Combine(Root, "deploy", "k8s", "callgrains.yaml")).Concat(LoadAll(Path.Combine(Root, "deploy", "k8s", "redis.yaml"))).ToList();
        var kinds = documents.Select(d => $"{d["kind"]}/{((YamlMappingNode)d["metadata"])["name"]}").ToHashSet();
        Assert.Superset(new HashSet<string> { "Deployment/callgrains", "Service/callgrains", "PodDisruptionBudget/callgrains", "StatefulSet/redis", "Service/redis", "Role/callgrains-pods", "RoleBinding/callgrains-pods", "ServiceAccount/callgrains" }, kinds);

        var deployment = documents.Single(d => d["kind"].ToString() == "Deployment");
        var container = (YamlMappingNode)((YamlSequenceNode)((YamlMappingNode)((YamlMappingNode)((YamlMappingNode)deployment["spec"])["template"])["spec"])["containers"])[0];
        var env = ((YamlSequenceNode)container["env"]).Cast<YamlMappingNode>().ToDictionary(e => e["name"].ToString(), e => e.Children.TryGetValue("value", out var v) ? v.ToString() : null);
        Assert.All(env.Keys, k => Assert.Contains(k, KnownSettings));
        Assert.Equal("Redis", env["Orleans__Provider"]);
        Assert.Equal("true", env["Orleans__Kubernetes"]);
        Assert.Equal("redis:6379", env["ConnectionStrings__Redis"]);
        var ports = ((YamlSequenceNode)container["ports"]).Cast<YamlMappingNode>().ToDictionary(p => p["name"].ToString(), p => p["containerPort"].ToString());
        Assert.Equal(("8080", env["Orleans__SiloPort"], env["Orleans__GatewayPort"]), (ports["http"], ports["silo"], ports["gateway"]));
        // Starting and readiness wait for /healthz (an Active member whose storage answers); liveness asks /alive only,
        // so a Redis outage makes pods unready rather than getting them all restarted.
        var served = HealthPathsTheHostServes();
        foreach (var (probe, path) in new[] { ("startupProbe", "/healthz"), ("readinessProbe", "/healthz"), ("livenessProbe", "/alive") })
        {
            var get = (YamlMappingNode)((YamlMappingNode)container[probe])["httpGet"];
            Assert.Equal(path, get["path"].ToString());
            Assert.Contains(path, served);
            Assert.Equal("http", get["port"].ToString());
        }

        var pdb = documents.Single(d => d["kind"].ToString() == "PodDisruptionBudget");
        Assert.Equal("2", ((YamlMappingNode)pdb["spec"])["minAvailable"].ToString());
        var hostProject = File.ReadAllText(Path.Combine(Root, "src", "CallGrains.Host", "CallGrains.Host.csproj"));
        Assert.Contains("Microsoft.Orleans.Hosting.Kubernetes", hostProject, StringComparison.Ordinal);
    }

    /// <summary>The health endpoints the host maps, read from its source so a renamed endpoint breaks these tests.</summary>
    private static HashSet<string> HealthPathsTheHostServes()
    {
        var sources = string.Join("\n", Directory.GetFiles(Path.Combine(Root, "src"), "*.cs", SearchOption.AllDirectories).Select(File.ReadAllText));
        var paths = Regex.Matches(sources, @"MapHealthChecks\(""(/[^""]*)""").Select(m => m.Groups[1].Value).ToHashSet();
        Assert.Superset(new HashSet<string> { "/alive", "/healthz" }, paths);
        return paths;
    }

    private static YamlMappingNode Load(string path) => LoadAll(path).Single();

    private static IEnumerable<YamlMappingNode> LoadAll(string path)
    {
        var stream = new YamlStream();
        using var reader = new StringReader(File.ReadAllText(path));
        stream.Load(reader);
        return stream.Documents.Select(d => (YamlMappingNode)d.RootNode);
    }
}
