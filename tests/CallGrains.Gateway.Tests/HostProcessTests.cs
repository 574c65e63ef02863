using System.Diagnostics;
using CallGrains.LocalCluster;

namespace CallGrains.Gateway.Tests;

/// <summary>The host as an operator runs it: a process, its exit status and what it writes.</summary>
public sealed class HostProcessTests
{
    private const string GoodKey = "host-process-test-key-0123456789abcdef";

    [Theory]
    [InlineData("Auth:AdminKey", "short-admin-key-0123456789")]
    [InlineData("Auth:AdminKey", "change-me-to-a-long-random-string")]
    [InlineData("Auth:TokenKey", "token-key-too-short")]
    [InlineData("Auth:CallTokenKey", "change-me-and-share-with-the-media-server")]
    public async Task A_short_or_placeholder_secret_stops_the_host_with_one_line_and_status_2(string setting, string value)
    {
        string[] keys = setting == "Auth:AdminKey" ? [$"--{setting}={value}"] : [$"--Auth:AdminKey={GoodKey}", $"--{setting}={value}"];

        var (status, output) = await RunToExitAsync(["--environment=Production", .. keys]);

        Assert.Equal(2, status);
        var line = Assert.Single(output, l => l.StartsWith("CallGrains cannot start:", StringComparison.Ordinal));
        Assert.Contains(setting, line, StringComparison.Ordinal);
        Assert.DoesNotContain(output, l => l.Contains(value, StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("Orleans:Role", "edgee")]
    [InlineData("Orleans:Provider", "postgres")]
    public async Task A_setting_that_does_not_parse_stops_the_host_with_one_line_naming_it_and_status_2(string setting, string value)
    {
        var (status, output) = await RunToExitAsync(["--environment=Production", $"--Auth:AdminKey={GoodKey}", $"--{setting}={value}"]);

        Assert.Equal(2, status);
        var line = Assert.Single(output, l => l.StartsWith("CallGrains cannot start:", StringComparison.Ordinal));
        Assert.Contains($"'{value}' at '{setting}'", line, StringComparison.Ordinal);
        Assert.DoesNotContain(output, l => l.Contains("   at ", StringComparison.Ordinal));
    }

    [Fact]
    public async Task One_key_for_auth_tokens_and_call_tokens_stops_the_host_with_one_line_and_status_2()
    {
        const string shared = "one-key-for-both-kinds-0123456789abcdef";

        var (status, output) = await RunToExitAsync(["--environment=Production", $"--Auth:AdminKey={GoodKey}", $"--Auth:TokenKey={shared}", $"--Auth:CallTokenKey={shared}"]);

        Assert.Equal(2, status);
        var line = Assert.Single(output, l => l.StartsWith("CallGrains cannot start:", StringComparison.Ordinal));
        Assert.Contains("Auth:CallTokenKey must differ from Auth:TokenKey", line, StringComparison.Ordinal);
        Assert.DoesNotContain(output, l => l.Contains(shared, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Auth_tokens_never_reach_the_logs_even_at_Information()
    {
        var host = HostProcess.Start(HostProcess.DefaultHostDll(),
        [
            "--environment=Production", $"--Auth:AdminKey={GoodKey}",
            "--Logging:LogLevel:Default=Information", "--Logging:LogLevel:Microsoft.AspNetCore=Information", "--Logging:LogLevel:Orleans=Warning",
        ]);
        await using (host)
        {
            await host.WaitHealthyAsync(TimeSpan.FromSeconds(90));
            using var admin = new Admin(host.Url, GoodKey);
            var (uid, token) = (await admin.UsersAsync(1, "secret"))[0];

            await using (var browser = await WsClient.ConnectWithAsync(host.Url, uid, token, tokenInQuery: true))
            {
                Assert.True((await browser.RequestAsync("ping")).IsOk());
            }

            using (await admin.SendAsync(HttpMethod.Get, $"/v1/calls/{Guid.NewGuid():N}", apiKey: null, bearer: token))
            {
            }

            await host.StopAsync(TimeSpan.FromSeconds(30));

            // Logging was on (the gateway's own Information lines are there), and no line holds the token.
            Assert.Contains(host.Output, l => l.Contains($"User {uid} device", StringComparison.Ordinal));
            Assert.DoesNotContain(host.Output, l => l.Contains(token, StringComparison.Ordinal));
        }
    }

    [Fact]
    public async Task A_host_says_which_gc_it_runs_with_and_takes_the_images_gen0_budget()
    {
        // Started as LocalCluster starts hosts: with the environment the image sets (DOTNET_GCgen0size=0x1000000);
        // then with another budget, so the line is seen to follow the setting. Not with 0 (the runtime's own budget):
        // that depends on the CPU's cache, 6 MiB on some machines here and 16 MiB on others.
        Assert.Contains("workstation GC (concurrent), gen0 budget up to 16 MiB", await RuntimeLineAsync(null), StringComparison.Ordinal);
        Assert.Contains("gen0 budget up to 8 MiB", await RuntimeLineAsync(new Dictionary<string, string> { ["DOTNET_GCgen0size"] = "0x800000" }), StringComparison.Ordinal);

        static async Task<string> RuntimeLineAsync(Dictionary<string, string>? environment)
        {
            var host = HostProcess.Start(HostProcess.DefaultHostDll(), ["--environment=Production", $"--Auth:AdminKey={GoodKey}"], environment: environment);
            await using (host)
            {
                await host.WaitHealthyAsync(TimeSpan.FromSeconds(90));
                await host.StopAsync(TimeSpan.FromSeconds(30));
                return Assert.Single(host.Output, l => l.StartsWith("runtime: ", StringComparison.Ordinal));
            }
        }
    }

    [Fact]
    public async Task A_redis_password_is_not_printed_when_redis_is_unreachable()
    {
        var password = $"sekrit-{Guid.NewGuid():N}";

        var (status, output) = await RunToExitAsync(
        [
            "--environment=Production", $"--Auth:AdminKey={GoodKey}", "--Orleans:Provider=Redis",
            $"--ConnectionStrings:Redis=127.0.0.1:{GatewayNode.FreePort()},password={password},connectTimeout=1000",
        ]);

        Assert.Equal(2, status);
        Assert.Contains(output, l => l.StartsWith("CallGrains cannot start: Redis at 127.0.0.1:", StringComparison.Ordinal));
        Assert.DoesNotContain(output, l => l.Contains("sekrit", StringComparison.Ordinal));
    }

    /// <summary>Runs the host until it exits (at most two minutes) and returns its status and every line it wrote.</summary>
    private static async Task<(int Status, List<string> Output)> RunToExitAsync(string[] args)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[]
        {
            HostProcess.DefaultHostDll(), $"--urls=http://127.0.0.1:{GatewayNode.FreePort()}",
            $"--Orleans:SiloPort={GatewayNode.FreePort()}", $"--Orleans:GatewayPort={GatewayNode.FreePort()}", "--Logging:LogLevel:Default=Warning",
        }.Concat(args))
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var limit = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        try
        {
            await process.WaitForExitAsync(limit.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException("the host did not exit within two minutes");
        }

        var lines = (await stdout + await stderr).Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return (process.ExitCode, [.. lines]);
    }
}
