using System.Runtime.InteropServices;

namespace CallGrains.LocalCluster;

/// <summary>POSIX signals .NET's Process does not send: SIGTERM asks a process to stop gracefully.</summary>
public static partial class Signals
{
    private const int SigTerm = 15;

    // Linux numbers (x86-64 and arm64).
    private const int SigStop = 19;
    private const int SigCont = 18;

    public static void Terminate(int pid) => _ = Kill(pid, SigTerm);

    /// <summary>SIGSTOP: the process stops on the spot, its sockets stay open; as a long network pause looks.</summary>
    public static void Pause(int pid) => _ = Kill(pid, SigStop);

    /// <summary>SIGCONT: a paused process goes on where it stopped.</summary>
    public static void Resume(int pid) => _ = Kill(pid, SigCont);

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);
}
