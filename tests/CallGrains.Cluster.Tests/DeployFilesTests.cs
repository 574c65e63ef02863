using System.Globalization;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using YamlDotNet.RepresentationModel;

namespace CallGrains.Cluster.Tests;

/// <summary>
/// No Docker engine runs here, so the deploy files are checked by reading them: every environment name must be a
/// setting the host reads, and ports, commands and probes must agree with the host's configuration; and the
/// deployment is closed by default (issue 19, items 5 and 6): no client-gateway port, admin and metrics off the public
/// port, Redis with a password, a memory cap and an eviction policy, a NetworkPolicy.
/// </summary>
public sealed class DeployFilesTests
{
    // Settings the host reads (Section__Key in the environment), and the variables Orleans' Kubernetes hosting reads.
    private static readonly HashSet<string> KnownSettings =
    [
        "Orleans__Provider", "Orleans__Kubernetes", "Orleans__ClusterId", "Orleans__ServiceId", "Orleans__SiloPort",
        "Orleans__GatewayPort", "Orleans__AdvertisedIP", "Orleans__Role", "Orleans__PrimarySiloPort", "Orleans__ProbeTimeoutSeconds",
        "Orleans__MissedProbesLimit", "ConnectionStrings__Redis", "ConnectionStrings__RedisHistory", "Auth__AdminKey",
        "Auth__CallTokenKey", "Auth__TokenKey", "Auth__TokenLifetime", "Calls__RingTimeoutSeconds",
        "Calls__DisconnectGraceSeconds", "Calls__MaxGroupRing", "Gateway__MessagesPerSecond", "Gateway__MessageBurst",
        "Gateway__MaxDevicesPerUser", "Gateway__ManagementPort", "Gateway__AllowedOrigins__0", "Gateway__MaxConnections",
        "Gateway__KnownNetworks__0",
        "ASPNETCORE_URLS", "ORLEANS_SERVICE_ID", "ORLEANS_CLUSTER_ID", "POD_NAMESPACE", "POD_NAME", "POD_IP",
        "REDIS_PASSWORD",
    ];

    // Measured server memory per idle authenticated socket, rounded up (docs/benchmarks.md: 18.8-19.7 KiB), and the
    // process's own resident memory before sockets (docs/deployment.md), in KiB.
    private const double SocketKiB = 20;
    private const double BaseMiB = 200;

    private static string Root => DeployFiles.Root;

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

        Assert.Contains("HistoryName = \"RedisHistory\"", sources, StringComparison.Ordinal);
    }

    [Fact]
    public void Compose_runs_two_locked_redis_three_silos_and_the_balancer_with_settings_the_host_knows()
    {
        var compose = DeployFiles.Load(Path.Combine(Root, "docker-compose.yml"));
        var services = (YamlMappingNode)compose["services"];
        var silo = (YamlMappingNode)services["silo"];
        Assert.Equal("3", ((YamlMappingNode)silo["deploy"])["replicas"].ToString());
        Assert.Equal("deploy/Dockerfile", ((YamlMappingNode)silo["build"])["dockerfile"].ToString());
        var env = ((YamlMappingNode)silo["environment"]).Children.ToDictionary(k => k.Key.ToString(), v => v.Value.ToString());
        Assert.All(env.Keys, k => Assert.Contains(k, KnownSettings));
        Assert.Equal("Redis", env["Orleans__Provider"]);
        Assert.Equal("http://+:8080", env["ASPNETCORE_URLS"]);

        // Both Redis: a password that must be given, a memory cap, the policy for what each holds, nothing published.
        const string Password = "${CALLGRAINS_REDIS_PASSWORD:?set CALLGRAINS_REDIS_PASSWORD}";
        foreach (var (name, setting, policy) in new[] { ("redis", "ConnectionStrings__Redis", "noeviction"), ("redis-history", "ConnectionStrings__RedisHistory", "volatile-ttl") })
        {
            var redis = (YamlMappingNode)services[name];
            var command = redis["command"].Strings();
            AssertLockedRedis(command, policy, $">{Password}");
            Assert.False(redis.Children.ContainsKey("ports"), $"{name} is published");
            Assert.Equal($"{name}:6379,user=callgrains,password={Password}", env[setting]);
        }

        // No client-gateway port; the management port is exposed to the compose network and published on loopback only.
        Assert.DoesNotContain("30000", File.ReadAllText(Path.Combine(Root, "docker-compose.yml")), StringComparison.Ordinal);
        Assert.False(env.ContainsKey("Orleans__GatewayPort"));
        Assert.Equal(new[] { "8080", "9090", env["Orleans__SiloPort"] }.Order(StringComparer.Ordinal), silo["expose"].Strings().Order(StringComparer.Ordinal));
        Assert.Equal("9090", env["Gateway__ManagementPort"]);
        Assert.StartsWith("${CALLGRAINS_ORIGIN:-http", env["Gateway__AllowedOrigins__0"], StringComparison.Ordinal);
        AssertMaxConnectionsFits(int.Parse(env["Gateway__MaxConnections"], CultureInfo.InvariantCulture), 2048);
        Assert.Equal("2g", silo["mem_limit"].ToString());

        var healthcheck = string.Join(" ", ((YamlMappingNode)silo["healthcheck"])["test"].Strings());
        Assert.Matches(@"^CMD bash -c .*/dev/tcp/127\.0\.0\.1/8080 .*GET /healthz HTTP/1\.0.* 200 ", healthcheck);
        Assert.Contains("/healthz", HealthPathsTheHostServes());
        var lb = (YamlMappingNode)services["lb"];
        Assert.Contains("./deploy/nginx.conf:/etc/nginx/nginx.conf:ro", lb["volumes"].Strings());
        Assert.Equal(["127.0.0.1:9090:9090", "8080:80"], lb["ports"].Strings().Order(StringComparer.Ordinal));
        var nginx = File.ReadAllText(Path.Combine(Root, "deploy", "nginx.conf"));
        Assert.Contains("server silo:8080", nginx, StringComparison.Ordinal);
        Assert.Contains("server silo:9090", nginx, StringComparison.Ordinal);
    }

    [Fact]
    public void The_split_compose_file_turns_the_balanced_service_into_edges_and_adds_silos_that_publish_nothing()
    {
        var services = (YamlMappingNode)DeployFiles.Load(Path.Combine(Root, "deploy", "compose.split.yml"))["services"];
        var baseServices = (YamlMappingNode)DeployFiles.Load(Path.Combine(Root, "docker-compose.yml"))["services"];

        // The service nginx balances over (docker-compose.yml's "silo") runs as edges.
        var edges = (YamlMappingNode)services["silo"];
        Assert.True(baseServices.Children.ContainsKey("silo"));
        Assert.Equal("Edge", ((YamlMappingNode)edges["environment"])["Orleans__Role"].ToString());
        Assert.Contains("server silo:8080", File.ReadAllText(Path.Combine(Root, "deploy", "nginx.conf")), StringComparison.Ordinal);

        // The silos: settings the host knows, grains only, the client gateway on the compose network only.
        var grains = (YamlMappingNode)services["grains"];
        var env = ((YamlMappingNode)grains["environment"]).Children.ToDictionary(k => k.Key.ToString(), v => v.Value.ToString());
        Assert.All(env.Keys, k => Assert.Contains(k, KnownSettings));
        Assert.Equal(("Silo", "Redis"), (env["Orleans__Role"], env["Orleans__Provider"]));
        Assert.Equal(new[] { "8080", "9090", env["Orleans__SiloPort"], env["Orleans__GatewayPort"] }.Order(StringComparer.Ordinal), grains["expose"].Strings().Order(StringComparer.Ordinal));
        Assert.False(grains.Children.ContainsKey("ports"), "the silos publish a port");
        Assert.Equal(((YamlMappingNode)baseServices["silo"])["image"].ToString(), grains["image"].ToString());
        var baseEnv = (YamlMappingNode)((YamlMappingNode)baseServices["silo"])["environment"];
        Assert.Equal(baseEnv["ConnectionStrings__Redis"].ToString(), env["ConnectionStrings__Redis"]);
        Assert.Equal(baseEnv["Auth__AdminKey"].ToString(), env["Auth__AdminKey"]);
        var healthcheck = string.Join(" ", ((YamlMappingNode)grains["healthcheck"])["test"].Strings());
        Assert.Contains("GET /healthz", healthcheck, StringComparison.Ordinal);
    }

    [Fact]
    public void Nginx_logs_paths_without_query_strings()
    {
        var nginx = File.ReadAllText(Path.Combine(Root, "deploy", "nginx.conf"));
        var format = Regex.Match(nginx, @"log_format\s+(\w+)\s+([^;]*);");
        Assert.True(format.Success, "nginx.conf has no log_format");
        Assert.Contains("$uri", format.Groups[2].Value, StringComparison.Ordinal);
        Assert.DoesNotMatch(@"\$(request|request_uri|args|query_string|arg_\w+)\b", format.Groups[2].Value);
        Assert.Matches($@"access_log\s+\S+\s+{format.Groups[1].Value};", nginx);
    }

    [Fact]
    public void Dockerfile_builds_and_runs_the_host_on_the_ports_the_manifests_use()
    {
        var dockerfile = File.ReadAllText(Path.Combine(Root, "deploy", "Dockerfile"));
        Assert.Contains("dotnet publish src/CallGrains.Host/CallGrains.Host.csproj", dockerfile, StringComparison.Ordinal);
        Assert.Contains("ENTRYPOINT [\"dotnet\", \"CallGrains.Host.dll\"]", dockerfile, StringComparison.Ordinal);
        Assert.Matches(@"EXPOSE 8080 9090 11111\n", dockerfile);
        Assert.Contains("Gateway__ManagementPort=9090", dockerfile, StringComparison.Ordinal);
        Assert.DoesNotContain("30000", dockerfile, StringComparison.Ordinal);
        Assert.Contains("FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build", dockerfile, StringComparison.Ordinal);
        Assert.True(File.Exists(Path.Combine(Root, "src", "CallGrains.Host", "CallGrains.Host.csproj")));
    }

    [Fact]
    public void The_published_host_runs_with_workstation_gc_and_a_short_thread_pool_spin()
    {
        // What `dotnet publish` puts beside the host in the image (this build's copy): the settings the benchmarks chose
        // (docs/benchmarks.md). No deploy file overrides them: the environment would win over the file.
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "CallGrains.Host.runtimeconfig.json")))!["runtimeOptions"]!["configProperties"]!;
        Assert.Equal(10, (int)config["System.Threading.ThreadPool.UnfairSemaphoreSpinLimit"]!);
        Assert.False((bool)config["System.GC.Server"]!);
        Assert.True((bool)config["System.GC.Concurrent"]!);
        foreach (var file in Directory.GetFiles(Path.Combine(Root, "deploy"), "*", SearchOption.AllDirectories).Append(Path.Combine(Root, "docker-compose.yml")))
        {
            var text = File.ReadAllText(file);
            Assert.DoesNotContain("UnfairSemaphoreSpinLimit", text, StringComparison.Ordinal);
            Assert.DoesNotContain("gcServer", text, StringComparison.OrdinalIgnoreCase);
            Assert.True(file.EndsWith("Dockerfile", StringComparison.Ordinal) || !CallGrains.LocalCluster.HostRuntime.Environment.Keys.Any(text.Contains), $"{file} overrides the image's runtime environment");
        }
    }

    [Fact]
    public void The_image_and_dotnet_run_set_the_runtime_environment_that_test_and_bench_hosts_run_with()
    {
        // The runtime reads these from the environment only: the image's ENV and launchSettings.json (dotnet run) carry
        // them, and LocalCluster starts hosts with them (no other deploy file overrides them: the test above).
        var dockerfile = File.ReadAllText(Path.Combine(Root, "deploy", "Dockerfile"));
        var launch = JsonNode.Parse(File.ReadAllText(Path.Combine(Root, "src", "CallGrains.Host", "Properties", "launchSettings.json")))!;
        var dotnetRun = launch["profiles"]!["CallGrains.Host"]!["environmentVariables"]!;
        Assert.NotEmpty(CallGrains.LocalCluster.HostRuntime.Environment);
        foreach (var (name, value) in CallGrains.LocalCluster.HostRuntime.Environment)
        {
            Assert.Matches($@"\nENV {name}={value}\n", dockerfile);
            Assert.Equal(value, (string?)dotnetRun[name]);
        }
    }

    [Fact]
    public void Kubernetes_manifests_agree_with_the_host()
    {
        var documents = DeployFiles.Kubernetes();
        var kinds = documents.Select(d => $"{d["kind"]}/{((YamlMappingNode)d["metadata"])["name"]}").ToHashSet();
        Assert.Superset(new HashSet<string> { "Deployment/callgrains", "Service/callgrains", "Service/callgrains-admin", "PodDisruptionBudget/callgrains", "StatefulSet/redis", "Service/redis", "StatefulSet/redis-history", "Service/redis-history", "Role/callgrains-pods", "RoleBinding/callgrains-pods", "ServiceAccount/callgrains", "NetworkPolicy/callgrains", "NetworkPolicy/redis", "Ingress/callgrains" }, kinds);

        var container = documents.Named("Deployment", "callgrains").Container();
        var env = Env(container);
        Assert.All(env.Keys, k => Assert.Contains(k, KnownSettings));
        Assert.Equal("Redis", env["Orleans__Provider"]);
        Assert.Equal("true", env["Orleans__Kubernetes"]);
        var ports = ((YamlSequenceNode)container["ports"]).Cast<YamlMappingNode>().ToDictionary(p => p["name"].ToString(), p => p["containerPort"].ToString());
        Assert.Equal(["http", "management", "silo"], ports.Keys.Order(StringComparer.Ordinal));
        Assert.Equal(("8080", env["Orleans__SiloPort"], env["Gateway__ManagementPort"]), (ports["http"], ports["silo"], ports["management"]));

        // Starting and readiness wait for /healthz (an Active member whose storage answers); liveness asks /alive only,
        // so a Redis outage makes pods unready rather than getting them all restarted. Both on the management port.
        var served = HealthPathsTheHostServes();
        foreach (var (probe, path) in new[] { ("startupProbe", "/healthz"), ("readinessProbe", "/healthz"), ("livenessProbe", "/alive") })
        {
            var get = (YamlMappingNode)((YamlMappingNode)container[probe])["httpGet"];
            Assert.Equal(path, get["path"].ToString());
            Assert.Contains(path, served);
            Assert.Equal("management", get["port"].ToString());
        }

        var pdb = documents.Single(d => d["kind"].ToString() == "PodDisruptionBudget");
        Assert.Equal("2", ((YamlMappingNode)pdb["spec"])["minAvailable"].ToString());
        var hostProject = File.ReadAllText(Path.Combine(Root, "src", "CallGrains.Host", "CallGrains.Host.csproj"));
        Assert.Contains("Microsoft.Orleans.Hosting.Kubernetes", hostProject, StringComparison.Ordinal);
    }

    [Fact]
    public void The_split_kubernetes_shape_turns_the_deployment_into_edges_and_opens_the_client_gateway_to_edges_only()
    {
        var split = DeployFiles.LoadAll(Path.Combine(Root, "deploy", "k8s", "split", "callgrains-split.yaml")).ToList();
        var common = DeployFiles.Kubernetes();

        // Edges replace the co-hosted Deployment under its name and label, so its Services, Ingress and policy serve them.
        var edges = split.Named("Deployment", "callgrains");
        var edge = edges.Container();
        var edgeEnv = Env(edge);
        Assert.All(edgeEnv.Keys, k => Assert.Contains(k, KnownSettings));
        Assert.Equal("Edge", edgeEnv["Orleans__Role"]);
        Assert.False(edgeEnv.ContainsKey("Orleans__Kubernetes"));
        Assert.False(edgeEnv.ContainsKey("Orleans__GatewayPort"));
        Assert.Equal(["http", "management"], Ports(edge).Keys.Order(StringComparer.Ordinal));
        Assert.Equal("callgrains", PodLabels(edges)["app"]);
        Assert.Equal(PodLabels(common.Named("Deployment", "callgrains"))["app"], PodLabels(edges)["app"]);

        // Silos: no public port; the silo port and the client gateway the settings name.
        var silos = split.Named("Deployment", "callgrains-silo");
        var silo = silos.Container();
        var siloEnv = Env(silo);
        Assert.All(siloEnv.Keys, k => Assert.Contains(k, KnownSettings));
        Assert.Equal(("Silo", "true"), (siloEnv["Orleans__Role"], siloEnv["Orleans__Kubernetes"]));
        var siloPorts = Ports(silo);
        Assert.Equal(["client-gateway", "management", "silo"], siloPorts.Keys.Order(StringComparer.Ordinal));
        Assert.Equal((siloEnv["Orleans__SiloPort"], siloEnv["Orleans__GatewayPort"], siloEnv["Gateway__ManagementPort"]), (siloPorts["silo"], siloPorts["client-gateway"], siloPorts["management"]));
        Assert.Equal("callgrains", ((YamlMappingNode)((YamlMappingNode)((YamlMappingNode)silos["spec"])["template"])["spec"])["serviceAccountName"].ToString());

        // The client gateway from edges only, the silo port from silos only; Redis from both.
        var policy = (YamlMappingNode)split.Named("NetworkPolicy", "callgrains-silo")["spec"];
        var rules = ((YamlSequenceNode)policy["ingress"]).Cast<YamlMappingNode>()
            .ToDictionary(r => ((YamlMappingNode)((YamlSequenceNode)r["ports"])[0])["port"].ToString(), r => r["from"].ToString());
        Assert.Equal(["11111", "30000", "9090"], rules.Keys.Order(StringComparer.Ordinal));
        Assert.Contains("callgrains-role, edge", rules["30000"], StringComparison.Ordinal);
        Assert.Contains("app, callgrains-silo", rules["11111"], StringComparison.Ordinal);
        Assert.Contains("callgrains-silo", split.Named("NetworkPolicy", "redis").ToString(), StringComparison.Ordinal);

        // Edges scale on sockets (the gateway's own metric), silos on CPU.
        Assert.Contains("callgrains_gateway_connections", split.Named("HorizontalPodAutoscaler", "callgrains").ToString(), StringComparison.Ordinal);
        Assert.Contains("cpu", split.Named("HorizontalPodAutoscaler", "callgrains-silo").ToString(), StringComparison.Ordinal);
        Assert.Contains("\"callgrains.gateway.connections\"", File.ReadAllText(Path.Combine(Root, "src", "CallGrains.Gateway", "Sockets", "GatewayMetrics.cs")), StringComparison.Ordinal);

        static Dictionary<string, string> Ports(YamlMappingNode container) =>
            ((YamlSequenceNode)container["ports"]).Cast<YamlMappingNode>().ToDictionary(p => p["name"].ToString(), p => p["containerPort"].ToString());

        static Dictionary<string, string> PodLabels(YamlMappingNode workload) =>
            ((YamlMappingNode)((YamlMappingNode)((YamlMappingNode)((YamlMappingNode)workload["spec"])["template"])["metadata"])["labels"])
                .Children.ToDictionary(k => k.Key.ToString(), v => v.Value.ToString());
    }

    [Fact]
    public void Kubernetes_deployment_is_closed_by_default()
    {
        var documents = DeployFiles.Kubernetes();
        var container = documents.Named("Deployment", "callgrains").Container();
        var env = Env(container);

        // No client-gateway port anywhere; the public Service and the Ingress carry the public port only.
        Assert.False(env.ContainsKey("Orleans__GatewayPort"));
        Assert.All(Directory.GetFiles(Path.Combine(Root, "deploy", "k8s")), f => Assert.DoesNotContain("30000", File.ReadAllText(f), StringComparison.Ordinal));
        var containerPorts = ((YamlSequenceNode)container["ports"]).Cast<YamlMappingNode>().ToDictionary(p => p["name"].ToString(), p => p["containerPort"].ToString());
        var service = (YamlMappingNode)documents.Named("Service", "callgrains")["spec"];
        Assert.NotEqual("LoadBalancer", service.Children.TryGetValue("type", out var type) ? type.ToString() : "ClusterIP");
        var exposed = ((YamlSequenceNode)service["ports"]).Cast<YamlMappingNode>()
            .Select(p => p["targetPort"].ToString()).Select(t => containerPorts.GetValueOrDefault(t, t)).ToList();
        Assert.Equal(["8080"], exposed);
        var admin = (YamlMappingNode)documents.Named("Service", "callgrains-admin")["spec"];
        Assert.Equal("ClusterIP", admin["type"].ToString());
        var ingresses = documents.Where(d => d["kind"].ToString() == "Ingress").ToList();
        Assert.NotEmpty(ingresses);
        foreach (var ingress in ingresses)
        {
            var spec = (YamlMappingNode)ingress["spec"];
            var tls = (YamlMappingNode)((YamlSequenceNode)spec["tls"])[0];
            Assert.False(string.IsNullOrEmpty(tls["secretName"].ToString()));
            var annotations = (YamlMappingNode)((YamlMappingNode)ingress["metadata"])["annotations"];
            Assert.True(int.Parse(annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"].ToString(), CultureInfo.InvariantCulture) >= 60);
            Assert.Equal("true", annotations["nginx.ingress.kubernetes.io/force-ssl-redirect"].ToString());
            var backends = spec["rules"].AllNodes.OfType<YamlMappingNode>().Where(m => m.Children.ContainsKey("service"))
                .Select(m => (YamlMappingNode)m["service"]).Select(b => $"{b["name"]}:{((YamlMappingNode)b["port"])["name"]}").ToHashSet();
            Assert.Equal(["callgrains:http"], backends);
        }

        // Browser origins set (a placeholder to replace: it fails closed); sockets capped from the memory limit.
        Assert.StartsWith("https://", env["Gateway__AllowedOrigins__0"], StringComparison.Ordinal);

        // Behind the ingress, the client's address is believed from the ingress pods alone (a network, parsed as such).
        Assert.True(System.Net.IPNetwork.TryParse(env["Gateway__KnownNetworks__0"], out _));
        var limit = ((YamlMappingNode)((YamlMappingNode)container["resources"])["limits"])["memory"].ToString();
        Assert.EndsWith("Gi", limit, StringComparison.Ordinal);
        AssertMaxConnectionsFits(int.Parse(env["Gateway__MaxConnections"]!, CultureInfo.InvariantCulture), 1024 * double.Parse(limit[..^2], CultureInfo.InvariantCulture));

        // The hosts connect with the ACL user and the password from the Secret, to the Redis for each kind of data.
        Assert.Equal("callgrains-redis", SecretName(container, "REDIS_PASSWORD"));
        Assert.Equal("redis:6379,user=callgrains,password=$(REDIS_PASSWORD)", env["ConnectionStrings__Redis"]);
        Assert.Equal("redis-history:6379,user=callgrains,password=$(REDIS_PASSWORD)", env["ConnectionStrings__RedisHistory"]);
        Assert.DoesNotContain(documents, d => d["kind"].ToString() == "Secret" && ((YamlMappingNode)d["metadata"])["name"].ToString() == "callgrains-redis");
        foreach (var (name, policy) in new[] { ("redis", "noeviction"), ("redis-history", "volatile-ttl") })
        {
            var redis = documents.Named("StatefulSet", name).Container();
            AssertLockedRedis(redis["args"].Strings(), policy, ">$(REDIS_PASSWORD)");
            Assert.Equal("callgrains-redis", SecretName(redis, "REDIS_PASSWORD"));
        }

        // NetworkPolicy: the silo port from CallGrains pods only, the public port from the ingress controller only, the
        // management port never from it; Redis from CallGrains pods only; no rule open to everyone.
        var pods = Rules(documents.Named("NetworkPolicy", "callgrains"), "callgrains");
        Assert.Equal(["app=callgrains"], pods["11111"]);
        Assert.Equal(["namespace=ingress-nginx"], pods["8080"]);
        Assert.DoesNotContain("namespace=ingress-nginx", pods["9090"]);
        Assert.Equal(["11111", "8080", "9090"], pods.Keys.Order(StringComparer.Ordinal));
        var redisPolicy = documents.Named("NetworkPolicy", "redis");
        var selected = (YamlMappingNode)((YamlSequenceNode)((YamlMappingNode)((YamlMappingNode)redisPolicy["spec"])["podSelector"])["matchExpressions"])[0];
        Assert.Equal(("app", "In"), (selected["key"].ToString(), selected["operator"].ToString()));
        Assert.Equal(["redis", "redis-history"], selected["values"].Strings());
        Assert.Equal(["app=callgrains"], Rules(redisPolicy, null)["6379"]);
    }

    /// <summary>Redis with a memory cap, the given eviction policy, the default user off and an ACL user without the dangerous commands.</summary>
    private static void AssertLockedRedis(List<string> args, string policy, string password)
    {
        string After(string name) => args[args.IndexOf(name) + 1];
        Assert.Matches(@"^\d+mb$", After("--maxmemory"));
        Assert.Equal(policy, After("--maxmemory-policy"));
        var users = string.Join(" ", args.Skip(args.IndexOf("--user")));
        Assert.Equal($"--user default off --user callgrains on {password} ~* &* +@all -@dangerous", users);
    }

    /// <summary>No more sockets than half the memory left after the process's base can hold at the measured bytes each.</summary>
    private static void AssertMaxConnectionsFits(int maxConnections, double limitMiB)
    {
        var fits = (limitMiB - BaseMiB) * 0.5 * 1024 / SocketKiB;
        Assert.InRange(maxConnections, fits * 0.9, fits);
    }

    private static Dictionary<string, string?> Env(YamlMappingNode container) =>
        ((YamlSequenceNode)container["env"]).Cast<YamlMappingNode>().ToDictionary(e => e["name"].ToString(), e => e.Children.TryGetValue("value", out var v) ? v.ToString() : null);

    private static string SecretName(YamlMappingNode container, string variable)
    {
        var entry = ((YamlSequenceNode)container["env"]).Cast<YamlMappingNode>().Single(e => e["name"].ToString() == variable);
        return ((YamlMappingNode)((YamlMappingNode)entry["valueFrom"])["secretKeyRef"])["name"].ToString();
    }

    /// <summary>For a policy that selects pods labelled app=<paramref name="app"/>: each port and who may reach it.</summary>
    private static Dictionary<string, List<string>> Rules(YamlMappingNode policy, string? app)
    {
        var spec = (YamlMappingNode)policy["spec"];
        if (app is not null)
        {
            Assert.Equal(app, ((YamlMappingNode)((YamlMappingNode)spec["podSelector"])["matchLabels"])["app"].ToString());
        }

        Assert.Equal(["Ingress"], spec["policyTypes"].Strings());
        var rules = new Dictionary<string, List<string>>();
        foreach (var rule in ((YamlSequenceNode)spec["ingress"]).Cast<YamlMappingNode>())
        {
            // A rule without "from" or with an empty selector lets everyone in.
            var from = ((YamlSequenceNode)rule["from"]).Cast<YamlMappingNode>().Select(Peer).ToList();
            Assert.NotEmpty(from);
            foreach (var port in ((YamlSequenceNode)rule["ports"]).Cast<YamlMappingNode>())
            {
                rules[port["port"].ToString()] = from;
            }
        }

        return rules;
    }

    private static string Peer(YamlMappingNode peer)
    {
        var (kind, selector) = peer.Children.Single() is var (k, v) ? (k.ToString(), (YamlMappingNode)((YamlMappingNode)v)["matchLabels"]) : default;
        var (label, value) = selector.Children.Single() is var (l, x) ? (l.ToString(), x.ToString()) : default;
        Assert.False(string.IsNullOrEmpty(value));
        return kind == "namespaceSelector" && label == "kubernetes.io/metadata.name" ? $"namespace={value}" : $"{label}={value}";
    }

    /// <summary>The health endpoints the host maps, read from its source so a renamed endpoint breaks these tests.</summary>
    private static HashSet<string> HealthPathsTheHostServes()
    {
        var sources = string.Join("\n", Directory.GetFiles(Path.Combine(Root, "src"), "*.cs", SearchOption.AllDirectories).Select(File.ReadAllText));
        // Liveness is a health check endpoint; readiness is Readiness.AnswerAsync (its answer cached a second).
        var paths = Regex.Matches(sources, @"(?:MapHealthChecks|MapGet)\(""(/[^""/]*)"", *(?:new HealthCheckOptions|Readiness\.)").Select(m => m.Groups[1].Value).ToHashSet();
        Assert.Superset(new HashSet<string> { "/alive", "/healthz" }, paths);
        return paths;
    }
}
