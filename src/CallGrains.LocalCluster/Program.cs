using System.Runtime.InteropServices;
using CallGrains.LocalCluster;

// Runs a local production-shaped cluster: redis-server plus N host processes on loopback, until Ctrl+C.
var silos = args.Length > 0 && int.TryParse(args[0], out var n) ? n : 3;
Console.WriteLine($"starting redis-server and {silos} CallGrains hosts...");
await using var cluster = await Cluster.StartAsync(silos);
Console.WriteLine($"redis-server pid {cluster.Redis.Pid} on {cluster.Redis.ConnectionString}");
foreach (var host in cluster.Hosts)
{
    Console.WriteLine($"host pid {host.Pid}: {host.Url} (ws {host.Url.ToString().Replace("http", "ws", StringComparison.Ordinal)}v1/ws), silo port {host.SiloPort}");
}

Console.WriteLine($"admin key (X-Api-Key): {cluster.AdminKey}");
Console.WriteLine("the cluster is up; Ctrl+C stops every process");
var stop = new TaskCompletionSource();

// Ctrl+C or SIGTERM: stop every process of the cluster (by PID) before exiting.
void Stop(PosixSignalContext context)
{
    context.Cancel = true;
    stop.TrySetResult();
}

using var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
using var terminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
AppDomain.CurrentDomain.ProcessExit += (_, _) => cluster.KillAll();
await stop.Task;
Console.WriteLine("stopping...");
