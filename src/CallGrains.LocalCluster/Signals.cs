using System.Runtime.InteropServices;

namespace CallGrains.LocalCluster;

/// <summary>POSIX signals .NET's Process does not send: SIGTERM asks a process to stop gracefully.</summary>
public static partial class Signals
{
    private const int SigTerm = 15;

    public static void Terminate(int pid) => _ = Kill(pid, SigTerm);

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);
}
