using CallGrains.Cli;

namespace CallGrains.Client.Tests;

/// <summary>Push tokens through the SDK (user and admin clients) and the softphone's commands.</summary>
[Collection(ClientNodeGroup.Name)]
public sealed class PushTokenClientTests(ClientNodeFixture node)
{
    [Fact]
    public async Task A_client_registers_lists_and_unregisters_push_tokens_and_the_operator_sees_hashes()
    {
        var users = await node.UsersAsync(2, "sdkpush");
        await using var phone = await node.ConnectAsync(users[0].Token, "iphone");
        var voip = $"{Guid.NewGuid():N}{Guid.NewGuid():N}";

        var registered = await phone.RegisterPushTokenAsync(phone.DeviceId, PushPlatform.ApnsVoip, voip.ToUpperInvariant());
        await phone.RegisterPushTokenAsync("pixel", PushPlatform.Fcm, "fcm:token-1");

        Assert.Equal(("iphone", PushPlatform.ApnsVoip, voip), (registered.DeviceId, registered.Platform, registered.Token));
        Assert.InRange(registered.RegisteredAt, DateTimeOffset.UtcNow.AddMinutes(-1), DateTimeOffset.UtcNow.AddMinutes(1));
        Assert.Equal(
            [("pixel", PushPlatform.Fcm, "fcm:token-1"), ("iphone", PushPlatform.ApnsVoip, voip)],
            (await phone.GetPushTokensAsync()).Select(t => (t.DeviceId, t.Platform, t.Token!)));
        var seen = await node.Admin.GetPushTokensAsync(users[0].Uid);
        Assert.All(seen, t => Assert.Null(t.Token));
        Assert.Equal(8, seen[1].TokenHash!.Length);

        var refused = await Assert.ThrowsAsync<CallGrainsException>(() => phone.RegisterPushTokenAsync("iphone", PushPlatform.Apns, "not-hex"));
        Assert.Equal((ErrorCodes.BadRequest, 400), (refused.Code, refused.HttpStatus));
        var unknown = await Assert.ThrowsAsync<CallGrainsException>(() => node.Admin.GetPushTokensAsync($"nobody-{Guid.NewGuid():N}"));
        Assert.Equal((ErrorCodes.UidNotFound, 404), (unknown.Code, unknown.HttpStatus));

        await phone.UnregisterPushTokenAsync("iphone");
        await phone.UnregisterPushTokenAsync("iphone");
        Assert.Equal(["pixel"], (await phone.GetPushTokensAsync()).Select(t => t.DeviceId));
    }

    [Fact]
    public async Task A_softphone_registers_lists_and_removes_its_push_token()
    {
        var (_, token) = (await node.UsersAsync(1, "clipush"))[0];
        await using var phone = CliProcess.Start("phone", "--server", node.Node.BaseUri.ToString(), "--token", token, "--device", "cli-phone");
        await phone.LineAsync("connected");

        var registered = await phone.CommandAsync("push-token fcm cli:fcm-token", "ok push-token");
        Assert.Contains("device=cli-phone platform=fcm token=cli:fcm-token", registered, StringComparison.Ordinal);
        Assert.Contains("count=1", await phone.CommandAsync("push-tokens", "ok push-tokens"), StringComparison.Ordinal);
        await phone.LineAsync("push-token device=cli-phone platform=fcm token=cli:fcm-token");
        Assert.StartsWith("error ERR_BAD_REQUEST", await phone.CommandAsync("push-token gcm x", "error"), StringComparison.Ordinal);
        await phone.CommandAsync("push-token-remove", "ok push-token-remove device=cli-phone");
        Assert.Contains("count=0", await phone.CommandAsync("push-tokens", "ok push-tokens"), StringComparison.Ordinal);

        await phone.SendAsync("quit");
        Assert.Equal(Softphone.Ok, await phone.ExitCodeAsync());
    }
}
