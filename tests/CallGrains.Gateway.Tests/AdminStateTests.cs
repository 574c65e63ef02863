using System.Net;
using System.Net.WebSockets;
using System.Text.Json;

namespace CallGrains.Gateway.Tests;

/// <summary>The operator endpoints (docs/protocol.md, "Operator endpoints"): a user's state, any call by id.</summary>
[Collection(TwoNodeGroup.Name)]
public sealed class AdminStateTests(TwoNodeFixture cluster)
{
    [Fact]
    public async Task Two_sockets_of_one_device_racing_in_leave_no_device_registered_once_both_are_closed()
    {
        foreach (var (uid, token) in await cluster.Admin.UsersAsync(20, "dup"))
        {
            var sockets = new[] { new ClientWebSocket(), new ClientWebSocket() };
            foreach (var socket in sockets)
            {
                socket.Options.SetRequestHeader("Authorization", $"Bearer {token}");
            }

            var uri = new Uri($"ws://127.0.0.1:{cluster.A.HttpPort}/v1/ws?deviceId=dup");
            await Task.WhenAll(sockets.Select(s => s.ConnectAsync(uri, CancellationToken.None)));
            await Task.Delay(200);
            foreach (var socket in sockets)
            {
                try
                {
                    using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                    await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "bye", limit.Token);
                }
                catch (Exception ex) when (ex is WebSocketException or OperationCanceledException)
                {
                    // The one the server replaced may be gone already.
                }

                socket.Dispose();
            }

            var devices = -1;
            for (var i = 0; i < 50 && devices != 0; i++)
            {
                using var state = await StateAsync(uid);
                devices = state.RootElement.GetProperty("devices").GetArrayLength();
                if (devices != 0)
                {
                    await Task.Delay(200);
                }
            }

            Assert.True(devices == 0, $"{uid}: a device is left registered with both its sockets closed");
        }
    }

    [Fact]
    public async Task A_users_state_shows_their_slot_seq_and_devices()
    {
        var users = await cluster.Admin.UsersAsync(2, "st");
        await using var a = await WsClient.ConnectAsync(cluster.A, users[0].Uid, users[0].Token, "laptop");
        await using var b = await WsClient.ConnectAsync(cluster.B, users[1].Uid, users[1].Token, "phone");
        var call = await a.CallAsync(b.Uid);
        await b.EventAsync(0, "incomingCallReceived");

        using var caller = await StateAsync(a.Uid);
        using var callee = await StateAsync(b.Uid);

        Assert.Equal(a.Uid, caller.RootElement.Str("uid"));
        Assert.Equal(call.SessionId(), caller.RootElement.GetProperty("activeCall").Str("sessionId"));
        Assert.Empty(caller.RootElement.GetProperty("ringing").EnumerateArray());
        var device = Assert.Single(caller.RootElement.GetProperty("devices").EnumerateArray());
        Assert.Equal("laptop", device.Str("deviceId"));
        Assert.False(string.IsNullOrEmpty(device.Str("gatewayId")));
        Assert.True(device.GetProperty("connectedAt").GetDouble() > 1.7e9);

        Assert.Equal(JsonValueKind.Null, callee.RootElement.GetProperty("activeCall").ValueKind);
        Assert.Equal(call.SessionId(), Assert.Single(callee.RootElement.GetProperty("ringing").EnumerateArray()).Str("sessionId"));
        Assert.Equal(1, callee.RootElement.GetProperty("seq").GetInt64());
        Assert.NotEqual(
            device.Str("gatewayId"),
            Assert.Single(callee.RootElement.GetProperty("devices").EnumerateArray()).Str("gatewayId"));
    }

    [Fact]
    public async Task A_users_state_needs_the_admin_key_and_an_existing_user()
    {
        var users = await cluster.Admin.UsersAsync(1, "st");

        using var noKey = await cluster.Admin.SendAsync(HttpMethod.Get, $"/v1/users/{users[0].Uid}/state", apiKey: null);
        using var wrongKey = await cluster.Admin.SendAsync(HttpMethod.Get, $"/v1/users/{users[0].Uid}/state", apiKey: "wrong-key-0123456789");
        using var asUser = await cluster.Admin.SendAsync(HttpMethod.Get, $"/v1/users/{users[0].Uid}/state", apiKey: null, bearer: users[0].Token);
        using var missing = await cluster.Admin.SendAsync(HttpMethod.Get, $"/v1/users/nobody-{Guid.NewGuid():N}/state");

        Assert.Equal(HttpStatusCode.Unauthorized, noKey.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, wrongKey.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, asUser.StatusCode);
        Assert.Equal("ERR_PERMISSION_DENIED", await Answers.ErrorCodeOf(noKey));
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        Assert.Equal("ERR_UID_NOT_FOUND", await Answers.ErrorCodeOf(missing));
    }

    [Fact]
    public async Task The_admin_key_reads_any_call_and_the_user_path_is_unchanged()
    {
        var users = await cluster.Admin.UsersAsync(3, "st");
        await using var a = await WsClient.ConnectAsync(cluster.A, users[0].Uid, users[0].Token);
        var sessionId = (await a.CallAsync(users[1].Uid)).SessionId();
        var path = $"/v1/calls/{sessionId}";

        using var admin = await cluster.Admin.SendAsync(HttpMethod.Get, path);
        using var wrongKey = await cluster.Admin.SendAsync(HttpMethod.Get, path, apiKey: "wrong-key-0123456789", bearer: users[0].Token);
        using var party = await cluster.Admin.SendAsync(HttpMethod.Get, path, apiKey: null, bearer: users[1].Token);
        using var stranger = await cluster.Admin.SendAsync(HttpMethod.Get, path, apiKey: null, bearer: users[2].Token);
        using var anonymous = await cluster.Admin.SendAsync(HttpMethod.Get, path, apiKey: null);
        using var unknown = await cluster.Admin.SendAsync(HttpMethod.Get, $"/v1/calls/none-{Guid.NewGuid():N}");

        Assert.Equal(HttpStatusCode.OK, admin.StatusCode);
        using (var body = JsonDocument.Parse(await admin.Content.ReadAsStringAsync()))
        {
            Assert.Equal(sessionId, body.RootElement.SessionId());
            Assert.Equal("initiated", body.RootElement.Status());
        }

        Assert.Equal(HttpStatusCode.Unauthorized, wrongKey.StatusCode);
        Assert.Equal("ERR_PERMISSION_DENIED", await Answers.ErrorCodeOf(wrongKey));
        Assert.Equal(HttpStatusCode.OK, party.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, stranger.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        Assert.Equal("ERR_USER_NOT_LOGGED_IN", await Answers.ErrorCodeOf(anonymous));
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        Assert.Equal("ERR_CALL_NOT_FOUND", await Answers.ErrorCodeOf(unknown));
    }

    private async Task<JsonDocument> StateAsync(string uid)
    {
        using var response = await cluster.Admin.SendAsync(HttpMethod.Get, $"/v1/users/{uid}/state");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return JsonDocument.Parse(await response.Content.ReadAsStringAsync());
    }
}
