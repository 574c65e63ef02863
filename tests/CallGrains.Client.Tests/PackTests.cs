using System.Diagnostics;
using System.IO.Compression;

namespace CallGrains.Client.Tests;

/// <summary>The SDK packs as a NuGet library with its XML docs, the CLI as a dotnet tool named callgrains.</summary>
public sealed class PackTests
{
#if DEBUG
    private const string Configuration = "Debug";
#else
    private const string Configuration = "Release";
#endif

    [Fact]
    public async Task Dotnet_pack_makes_the_sdk_package_and_the_tool_package()
    {
        var output = Directory.CreateTempSubdirectory("callgrains-pack-");
        try
        {
            // The test build has just built both projects in this configuration: pack what it built.
            await PackAsync("src/CallGrains.Client/CallGrains.Client.csproj", output.FullName);
            await PackAsync("src/CallGrains.Cli/CallGrains.Cli.csproj", output.FullName);

            using (var sdk = ZipFile.OpenRead(Assert.Single(output.GetFiles("CallGrains.Client.*.nupkg")).FullName))
            {
                var names = sdk.Entries.Select(e => e.FullName).ToList();
                Assert.Contains("lib/net10.0/CallGrains.Client.dll", names);
                Assert.Contains("lib/net10.0/CallGrains.Client.xml", names);
                Assert.Contains("README.md", names);
                Assert.DoesNotContain(names, n => n.Contains("Orleans", StringComparison.OrdinalIgnoreCase));
            }

            using var tool = ZipFile.OpenRead(Assert.Single(output.GetFiles("CallGrains.Cli.*.nupkg")).FullName);
            Assert.Contains(tool.Entries, e => e.FullName == "tools/net10.0/any/callgrains.dll");
            using var settings = new StreamReader(tool.Entries.Single(e => e.FullName == "tools/net10.0/any/DotnetToolSettings.xml").Open());
            Assert.Contains("Name=\"callgrains\"", await settings.ReadToEndAsync(), StringComparison.Ordinal);
        }
        finally
        {
            output.Delete(recursive: true);
        }
    }

    private static async Task PackAsync(string project, string output)
    {
        var root = RepositoryRoot();
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = root };
        foreach (var arg in new[] { "pack", Path.Combine(root, project), "-c", Configuration, "--no-build", "-o", output, "-nologo" })
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var limit = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        await process.WaitForExitAsync(limit.Token);
        Assert.True(process.ExitCode == 0, $"dotnet pack {project} failed ({process.ExitCode}):\n{await stdout}\n{await stderr}");
    }

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "CallGrains.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"no CallGrains.sln above {AppContext.BaseDirectory}");
    }
}
