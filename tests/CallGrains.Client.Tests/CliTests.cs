using CallGrains.Cli;
using CallGrains.Gateway.Tests;

namespace CallGrains.Client.Tests;

/// <summary>Two <c>callgrains</c> softphones as real processes calling each other through a real node, driven as a script would.</summary>
[Collection(ClientNodeGroup.Name)]
public sealed class CliTests(ClientNodeFixture node)
{
    [Fact]
    public async Task Two_softphones_call_answer_and_hang_up()
    {
        var (bobUid, bobToken) = (await node.UsersAsync(1, "bob"))[0];
        var aliceUid = $"alice-{Guid.NewGuid():N}"[..20];
        await using var alice = CliProcess.Start("alice", "--server", node.Node.BaseUri.ToString(), "--uid", aliceUid, "--admin-key", GatewayNode.AdminKey, "--create", "--name", "Alice", "--device", "alice-cli");
        await using var bob = CliProcess.Start("bob", "--server", node.Node.BaseUri.ToString(), "--token", bobToken);
        Assert.Contains($"uid={aliceUid} device=alice-cli", await alice.LineAsync("connected"), StringComparison.Ordinal);
        await bob.LineAsync("connected", $"uid={bobUid}");

        var call = await alice.CommandAsync($"call {bobUid} audio", "ok call");
        var session = CliProcess.Field(call, "session");
        Assert.Contains("status=initiated", call, StringComparison.Ordinal);
        await bob.LineAsync("event incomingCallReceived", $"session={session}", $"from={aliceUid}", "type=audio");

        Assert.Contains("status=ongoing", await bob.CommandAsync("accept", "ok accept"), StringComparison.Ordinal);
        await alice.LineAsync("event outgoingCallAccepted", $"session={session}", "status=ongoing");
        Assert.Contains($"active={session}:ongoing", await alice.CommandAsync("status", "status"), StringComparison.Ordinal);
        await alice.CommandAsync($$"""signal {{bobUid}} {"type":"offer","sdp":"v=0"}""", "ok signal");
        await bob.LineAsync("event signal", $"session={session}", $"from={aliceUid}", "\"type\":\"offer\"");
        Assert.StartsWith("ok token expiresAt=", await bob.CommandAsync("token", "ok token"), StringComparison.Ordinal);

        await alice.CommandAsync("end", "ok end");
        await bob.LineAsync("event callEndedMessageReceived", $"session={session}", "status=ended");
        Assert.Contains("active=none", await bob.CommandAsync("status", "status"), StringComparison.Ordinal);
        await CallFlowTests.WaitUntilAsync(async () => (await alice.CommandAsync("log 1", "ok log")).Contains("count=1", StringComparison.Ordinal), "the call in alice's log");
        await alice.LineAsync("log", $"session={session}", "direction=outgoing", "status=ended", $"peer={bobUid}");

        await alice.SendAsync("quit");
        Assert.Equal(Softphone.Ok, await alice.ExitCodeAsync());
        Assert.Equal(0, await bob.EndInputAsync());
    }

    [Fact]
    public async Task Softphones_decline_and_cancel()
    {
        var users = await node.UsersAsync(2, "cli");
        await using var alice = CliProcess.Start("alice", "--server", node.Node.BaseUri.ToString(), "--token", users[0].Token);
        await using var bob = CliProcess.Start("bob", "--server", node.Node.BaseUri.ToString(), "--token", users[1].Token);
        await alice.LineAsync("connected");
        await bob.LineAsync("connected");

        var first = CliProcess.Field(await alice.CommandAsync($"call {users[1].Uid}", "ok call"), "session");
        await bob.LineAsync("event incomingCallReceived", $"session={first}", "type=video");
        await bob.CommandAsync("reject busy", "ok reject");
        await alice.LineAsync("event outgoingCallRejected", $"session={first}", "status=busy");

        var second = CliProcess.Field(await alice.CommandAsync($"call {users[1].Uid}", "ok call"), "session");
        await bob.LineAsync("event incomingCallReceived", $"session={second}");
        await alice.CommandAsync("cancel", "ok cancel");
        await bob.LineAsync("event incomingCallCanceled", $"session={second}", "reason=cancelled");

        Assert.Equal(0, await alice.EndInputAsync());
        Assert.Equal(0, await bob.EndInputAsync());
    }

    [Fact]
    public async Task Errors_print_their_code_and_the_softphone_goes_on()
    {
        var (_, token) = (await node.UsersAsync(1, "err"))[0];
        await using var cli = CliProcess.Start("cli", "--server", node.Node.BaseUri.ToString(), "--token", token);
        await cli.LineAsync("connected");

        Assert.StartsWith("error ERR_UID_NOT_FOUND ", await cli.CommandAsync($"call nobody-{Guid.NewGuid():N}", "error"), StringComparison.Ordinal);
        Assert.Equal("error ERR_BAD_REQUEST no call is ringing", await cli.CommandAsync("accept", "error"));
        Assert.StartsWith("error ERR_BAD_REQUEST unknown command 'dial'", await cli.CommandAsync("dial bob", "error"), StringComparison.Ordinal);
        Assert.StartsWith("error ERR_CALL_NOT_FOUND ", await cli.CommandAsync($"join {Guid.NewGuid():N}", "error"), StringComparison.Ordinal);
        Assert.Contains("state=connected", await cli.CommandAsync("status", "status"), StringComparison.Ordinal);

        Assert.Equal(0, await cli.EndInputAsync());
    }

    [Fact]
    public async Task Bad_arguments_exit_2_a_refused_token_3_an_unreachable_server_4()
    {
        await using var bad = CliProcess.Start("bad", "--server", node.Node.BaseUri.ToString(), "--bogus", "x");
        Assert.Equal(Softphone.BadArguments, await bad.ExitCodeAsync());
        Assert.Contains("unknown argument '--bogus'", bad.Errors, StringComparison.Ordinal);
        Assert.Contains("usage: callgrains", bad.Errors, StringComparison.Ordinal);

        await using var help = CliProcess.Start("help", "--help");
        Assert.Equal(Softphone.Ok, await help.ExitCodeAsync());
        Assert.Contains(help.Output, l => l.StartsWith("usage: callgrains", StringComparison.Ordinal));

        await using var refused = CliProcess.Start("refused", "--server", node.Node.BaseUri.ToString(), "--token", "not-a-token");
        Assert.Equal(Softphone.Refused, await refused.ExitCodeAsync());
        Assert.Contains("warning: --token on the command line", refused.Errors, StringComparison.Ordinal);
        Assert.Contains(refused.Output, l => l.StartsWith("error ERR_USER_NOT_LOGGED_IN", StringComparison.Ordinal));

        await using var unreachable = CliProcess.Start("unreachable", "--server", $"http://127.0.0.1:{GatewayNode.FreePort()}", "--token", "t");
        Assert.Equal(Softphone.Unreachable, await unreachable.ExitCodeAsync());
        Assert.Contains(unreachable.Output, l => l.StartsWith("error ERR_NOT_CONNECTED", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("--token t", null)]
    [InlineData("--uid u --admin-key k --create --name U", null)]
    [InlineData("", "a token (CALLGRAINS_TOKEN), or --uid with the admin key (CALLGRAINS_ADMIN_KEY), is required")]
    [InlineData("--uid u", "--uid needs the admin key (CALLGRAINS_ADMIN_KEY) to mint a token")]
    [InlineData("--token t --uid u --admin-key k", "give either --token or --uid with --admin-key, not both")]
    [InlineData("--token", "--token needs a value")]
    [InlineData("--server ftp://x --token t", "--server must be an http or https address, not 'ftp://x'")]
    public void The_command_line_is_checked_before_anything_connects(string line, string? problem)
    {
        var (arguments, found) = CliArguments.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries), _ => null);

        Assert.Equal(problem, found);
        Assert.Equal(problem is null, arguments is not null);
    }

    [Fact]
    public void Secrets_come_from_the_environment_and_a_secret_on_the_command_line_is_flagged()
    {
        var environment = new Dictionary<string, string> { ["CALLGRAINS_TOKEN"] = "t-env", ["CALLGRAINS_ADMIN_KEY"] = "k-env" };

        var (withToken, _) = CliArguments.Parse(["--server", "http://127.0.0.1:1"], environment.GetValueOrDefault);
        var (minting, _) = CliArguments.Parse(["--uid", "u"], environment.GetValueOrDefault);
        var (flagged, _) = CliArguments.Parse(["--token", "t-flag"], environment.GetValueOrDefault);

        Assert.Equal(("t-env", null), (withToken!.Token, withToken.AdminKey));
        Assert.Empty(withToken.SecretsOnCommandLine);
        Assert.Equal((null, "k-env"), (minting!.Token, minting.AdminKey));
        Assert.Empty(minting.SecretsOnCommandLine);
        Assert.Equal("t-flag", flagged!.Token);
        Assert.Equal(["--token"], flagged.SecretsOnCommandLine);
    }
}
