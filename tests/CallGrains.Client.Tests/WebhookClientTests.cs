using CallGrains.Cli;
using CallGrains.Gateway.Tests;

namespace CallGrains.Client.Tests;

/// <summary>A node that allows <c>http://</c> webhook endpoints (the tests' receivers are on loopback), its own so that no other test's calls reach them.</summary>
public sealed class WebhookClientNodeFixture : IAsyncLifetime
{
    public GatewayNode Node { get; private set; } = null!;

    public CallGrainsAdminClient Admin { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Node = await GatewayNode.StartAsync(null, null, "--Webhooks:AllowHttp=true");
        Admin = new CallGrainsAdminClient(Node.BaseUri, GatewayNode.AdminKey);
    }

    public async Task DisposeAsync()
    {
        Admin.Dispose();
        await Node.DisposeAsync();
    }
}

/// <summary>Webhook endpoints and their deliveries through the SDK's admin client and the CLI's admin commands.</summary>
public sealed class WebhookClientTests(WebhookClientNodeFixture node) : IClassFixture<WebhookClientNodeFixture>
{
    [Fact]
    public async Task The_admin_client_creates_lists_reads_and_deletes_webhook_endpoints()
    {
        var created = await node.Admin.CreateWebhookAsync("https://hooks.example.com/sdk", ["call.ended", "call.busy"]);

        Assert.StartsWith("wh_", created.Id, StringComparison.Ordinal);
        Assert.StartsWith("whsec_", created.Secret, StringComparison.Ordinal);
        Assert.Equal("https://hooks.example.com/sdk", created.Url);
        Assert.Equal(["call.ended", "call.busy"], created.Events);
        Assert.InRange(created.CreatedAt, DateTimeOffset.UtcNow.AddMinutes(-1), DateTimeOffset.UtcNow.AddMinutes(1));
        Assert.Null(created.DisabledAt);

        var read = await node.Admin.GetWebhookAsync(created.Id);
        var listed = Assert.Single(await node.Admin.GetWebhooksAsync(), w => w.Id == created.Id);
        foreach (var shown in new[] { read, listed })
        {
            Assert.Equal(created with { Secret = null, Events = shown.Events }, shown);
            Assert.Equal(created.Events, shown.Events);
        }

        Assert.Empty(await node.Admin.GetWebhookDeliveriesAsync(created.Id));
        Assert.Empty(await node.Admin.GetWebhookDeliveriesAsync(created.Id, WebhookDeliveryStatus.Failed, 5));
        var badLimit = await Assert.ThrowsAsync<CallGrainsException>(() => node.Admin.GetWebhookDeliveriesAsync(created.Id, limit: 101));
        Assert.Equal((ErrorCodes.BadRequest, 400), (badLimit.Code, badLimit.HttpStatus));
        var badUrl = await Assert.ThrowsAsync<CallGrainsException>(() => node.Admin.CreateWebhookAsync("ftp://hooks.example.com/sdk", ["*"]));
        Assert.Equal((ErrorCodes.BadRequest, 400), (badUrl.Code, badUrl.HttpStatus));
        Assert.Contains("url must be", badUrl.ServerMessage, StringComparison.Ordinal);

        await node.Admin.DeleteWebhookAsync(created.Id);
        Assert.DoesNotContain(await node.Admin.GetWebhooksAsync(), w => w.Id == created.Id);
        foreach (var gone in new Func<Task>[]
        {
            () => node.Admin.GetWebhookAsync(created.Id), () => node.Admin.DeleteWebhookAsync(created.Id), () => node.Admin.GetWebhookDeliveriesAsync(created.Id),
        })
        {
            var missing = await Assert.ThrowsAsync<CallGrainsException>(gone);
            Assert.Equal((ErrorCodes.BadRequest, 404), (missing.Code, missing.HttpStatus));
        }
    }

    [Fact]
    public async Task The_admin_client_reads_a_calls_deliveries_with_their_failed_attempts()
    {
        // Nothing listens on the receiver's port, so the first event's attempt fails and both stay pending.
        var endpoint = await node.Admin.CreateWebhookAsync($"http://127.0.0.1:{GatewayNode.FreePort()}/hook", ["*"]);
        try
        {
            var users = await Users.CreateAsync(node.Admin, 2, "sdkwh");
            await using var caller = await Users.ConnectAsync(node.Node.BaseUri, users[0].Token);
            await using var callee = await Users.ConnectAsync(node.Node.BaseUri, users[1].Token);
            var call = await caller.InitiateCallAsync(new Call(users[1].Uid, CallType.Audio, ReceiverType.User));
            await caller.RejectCallAsync(call.SessionId, CallStatus.Cancelled);

            IReadOnlyList<WebhookDelivery> deliveries = [];
            await CallFlowTests.WaitUntilAsync(
                async () => (deliveries = await node.Admin.GetWebhookDeliveriesAsync(endpoint.Id, WebhookDeliveryStatus.Pending)).Count == 2 && deliveries[1].Attempts.Count > 0,
                "the call's two deliveries, the first attempted");

            Assert.Equal(["call.cancelled", "call.initiated"], deliveries.Select(d => d.Type));
            Assert.All(deliveries, d => Assert.Equal((call.SessionId, WebhookDeliveryStatus.Pending), (d.SessionId, d.Status)));
            Assert.All(deliveries, d => Assert.NotNull(d.NextAttemptAt));
            var attempt = deliveries[1].Attempts[0];
            Assert.Null(attempt.StatusCode);
            Assert.False(string.IsNullOrEmpty(attempt.Error));
            Assert.True(attempt.LatencyMs >= 0);
            Assert.Equal(["call.cancelled"], (await node.Admin.GetWebhookDeliveriesAsync(endpoint.Id, limit: 1)).Select(d => d.Type));
            Assert.Empty(await node.Admin.GetWebhookDeliveriesAsync(endpoint.Id, WebhookDeliveryStatus.Delivered));
        }
        finally
        {
            await node.Admin.DeleteWebhookAsync(endpoint.Id);
        }
    }

    [Fact]
    public async Task The_cli_adds_lists_shows_deliveries_of_and_removes_webhook_endpoints()
    {
        var server = node.Node.BaseUri.ToString();
        var added = await RunAsync(Softphone.Ok, "--server", server, "--admin-key", GatewayNode.AdminKey, "webhook-add", "https://hooks.example.com/cli", "call.ended", "call.initiated");
        var line = Assert.Single(added.Output);
        Assert.StartsWith("ok webhook-add id=wh_", line, StringComparison.Ordinal);
        Assert.Contains(" url=https://hooks.example.com/cli events=call.ended,call.initiated createdAt=", line, StringComparison.Ordinal);
        Assert.Contains(" secret=whsec_", line, StringComparison.Ordinal);
        var id = CliProcess.Field(line, "id");

        var everything = await RunAsync(Softphone.Ok, "--server", server, "--admin-key", GatewayNode.AdminKey, "webhook-add", "https://hooks.example.com/all");
        Assert.Contains(" events=* ", Assert.Single(everything.Output), StringComparison.Ordinal);

        var listed = await RunAsync(Softphone.Ok, "--server", server, "--admin-key", GatewayNode.AdminKey, "webhooks");
        Assert.Contains(listed.Output, l => l.StartsWith($"webhook id={id} url=https://hooks.example.com/cli events=call.ended,call.initiated createdAt=", StringComparison.Ordinal));
        Assert.DoesNotContain(listed.Output, l => l.Contains("whsec_", StringComparison.Ordinal));
        Assert.StartsWith("ok webhooks count=", listed.Output[^1], StringComparison.Ordinal);

        var deliveries = await RunAsync(Softphone.Ok, "--server", server, "--admin-key", GatewayNode.AdminKey, "webhook-deliveries", id, "--status", "failed", "--limit", "10");
        Assert.Equal(["ok webhook-deliveries count=0"], deliveries.Output);

        var badStatus = await RunAsync(Softphone.BadArguments, "--server", server, "--admin-key", GatewayNode.AdminKey, "webhook-deliveries", id, "--status", "lost");
        Assert.Contains("--status must be pending, delivered or failed", badStatus.Errors, StringComparison.Ordinal);
        var badUrl = await RunAsync(Softphone.CommandRefused, "--server", server, "--admin-key", GatewayNode.AdminKey, "webhook-add", "ftp://hooks.example.com/cli");
        Assert.StartsWith("error ERR_BAD_REQUEST url must be", Assert.Single(badUrl.Output), StringComparison.Ordinal);
        var wrongKey = await RunAsync(Softphone.Refused, "--server", server, "--admin-key", "wrong-key-0123456789", "webhooks");
        Assert.StartsWith("error ERR_PERMISSION_DENIED", Assert.Single(wrongKey.Output), StringComparison.Ordinal);

        var removed = await RunAsync(Softphone.Ok, "--server", server, "--admin-key", GatewayNode.AdminKey, "webhook-remove", id);
        Assert.Equal([$"ok webhook-remove id={id}"], removed.Output);
        var removedAgain = await RunAsync(Softphone.CommandRefused, "--server", server, "--admin-key", GatewayNode.AdminKey, "webhook-remove", id);
        Assert.Equal([$"error ERR_BAD_REQUEST no webhook endpoint {id}"], removedAgain.Output);
        await node.Admin.DeleteWebhookAsync(CliProcess.Field(everything.Output[0], "id"));
    }

    [Theory]
    [InlineData("webhooks", null)]
    [InlineData("--server http://127.0.0.1:1 webhook-add https://x/h call.ended", null)]
    [InlineData("webhook-deliveries wh_1 --status pending --limit 100", null)]
    [InlineData("webhook-add", "webhook-add needs the endpoint's url")]
    [InlineData("webhooks extra", "webhooks takes no arguments")]
    [InlineData("webhook-remove", "webhook-remove takes one endpoint id")]
    [InlineData("webhook-deliveries", "webhook-deliveries needs the endpoint's id")]
    [InlineData("webhook-deliveries wh_1 --limit 0", "--limit must be a whole number from 1 to 100")]
    [InlineData("webhook-deliveries wh_1 --status", "--status must be pending, delivered or failed")]
    [InlineData("webhook-deliveries wh_1 --since 1", "unknown argument '--since' for webhook-deliveries")]
    [InlineData("--token t webhooks", "webhooks is an admin command: it takes the admin key, not --token or --uid")]
    public void Admin_commands_are_checked_before_anything_connects_and_take_the_key_from_the_environment(string line, string? problem)
    {
        var words = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);

        var (arguments, found) = CliArguments.Parse(words, name => name == CliArguments.AdminKeyVariable ? "k-env" : null);
        var (_, withoutKey) = CliArguments.Parse(words, _ => null);

        Assert.Equal(problem, found);
        if (problem is null)
        {
            Assert.Equal(("k-env", words.First(AdminCommands.Names.Contains)), (arguments!.AdminKey, arguments.Command));
            Assert.Empty(arguments.SecretsOnCommandLine);
            Assert.Equal($"{arguments.Command} needs the admin key (CALLGRAINS_ADMIN_KEY)", withoutKey);
        }
    }

    private static async Task<CliProcess> RunAsync(int exitCode, params string[] args)
    {
        var cli = CliProcess.Start("admin", args);
        Assert.True(exitCode == await cli.ExitCodeAsync(), $"callgrains {string.Join(' ', args)}: exit status; output:\n{string.Join('\n', cli.Output)}\nerrors:\n{cli.Errors}");
        await cli.DisposeAsync();
        return cli;
    }
}
