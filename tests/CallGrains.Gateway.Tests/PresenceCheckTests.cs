using CallGrains.Abstractions;
using Microsoft.Extensions.DependencyInjection;

namespace CallGrains.Gateway.Tests;

/// <summary>
/// A device counts as present only while its gateway holds its socket. An unregister that was lost (the cluster
/// briefly unreachable when the socket closed) must not keep a user in a call, or at the device cap, for long.
/// </summary>
public sealed class PresenceCheckTests : IAsyncLifetime
{
    private GatewayNode _node = null!;

    public async Task InitializeAsync() =>
        _node = await GatewayNode.StartAsync(extra: ["--Calls:PresenceCheckSeconds=1", "--Calls:DisconnectGraceSeconds=1"]);

    public async Task DisposeAsync() => await _node.DisposeAsync();

    [Fact]
    public async Task A_device_whose_unregister_was_lost_is_dropped_and_the_call_ends_for_the_peer()
    {
        using var admin = new Admin(_node.BaseUri);
        var users = await admin.UsersAsync(2);
        await using var a = await WsClient.ConnectAsync(_node, users[0].Uid, users[0].Token, "a");
        var b = await WsClient.ConnectAsync(_node, users[1].Uid, users[1].Token, "b");
        var call = await a.CallAsync(users[1].Uid);
        Assert.True((await b.RequestAsync("acceptCall", new { sessionId = call.SessionId() })).IsOk());

        // A second device of b whose socket is gone but whose unregister never arrived.
        var grains = _node.Services.GetRequiredService<IGrainFactory>();
        var gateway = _node.Services.GetRequiredService<GatewayIdentity>().Id;
        var user = grains.GetGrain<IUserGrain>(users[1].Uid);
        Assert.Null((await user.RegisterDevice("ghost", gateway, 0)).Error);
        await b.DisposeAsync();

        // The check with the gateway drops the ghost (once it is older than a socket's registration can be, 10 s),
        // the grace runs out, a is told. Generous: the bound is about 12 s, the machine may be slow.
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (!a.EventNames.Contains("callEndedMessageReceived"))
        {
            Assert.True(DateTime.UtcNow < deadline, $"a was not told the call ended; has {string.Join(", ", a.EventNames)}");
            await Task.Delay(100);
        }

        Assert.Equal(call.SessionId(), a.Events.Single(e => e.Str("event") == "callEndedMessageReceived").SessionId());
        Assert.Empty((await user.GetSnapshot())!.Devices);
        Assert.True((await a.CallAsync(users[1].Uid)).IsOk());
    }
}
