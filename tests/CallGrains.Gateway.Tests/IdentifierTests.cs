using System.Net;
using CallGrains.Abstractions;

namespace CallGrains.Gateway.Tests;

/// <summary>A trailing newline is not part of any identifier (a .NET regex <c>$</c> would let it through).</summary>
[Collection(TwoNodeGroup.Name)]
public sealed class IdentifierTests(TwoNodeFixture cluster)
{
    [Fact]
    public void A_trailing_newline_makes_every_identifier_invalid()
    {
        Assert.True(Identifiers.IsValidUid("alice"));
        Assert.False(Identifiers.IsValidUid("alice\n"));
        Assert.True(Identifiers.IsValidDeviceId("phone.1"));
        Assert.False(Identifiers.IsValidDeviceId("phone.1\n"));
        Assert.True(Identifiers.IsValidSessionId("abc:1"));
        Assert.False(Identifiers.IsValidSessionId("abc:1\n"));
    }

    [Fact]
    public async Task Rest_refuses_a_uid_or_session_id_ending_in_a_newline()
    {
        var (_, token) = (await cluster.Admin.UsersAsync(1))[0];

        using var created = await cluster.Admin.SendAsync(HttpMethod.Post, "/v1/users", new { uid = $"alice-{Guid.NewGuid():N}\n", name = "Alice" });
        using var call = await cluster.Admin.SendAsync(HttpMethod.Get, $"/v1/calls/{Guid.NewGuid():N}%0A", apiKey: null, bearer: token);

        Assert.Equal(HttpStatusCode.BadRequest, created.StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, call.StatusCode);
        Assert.Equal("ERR_INVALID_SESSION_ID", await Upgrade.ErrorCodeAsync(call));
    }

    [Fact]
    public async Task The_websocket_refuses_a_device_id_receiver_or_session_id_ending_in_a_newline()
    {
        var users = await cluster.Admin.UsersAsync(2);

        using var upgrade = await Upgrade.SendAsync(cluster.Admin.Http, users[0].Token, "deviceId=phone%0A");
        await using var a = await WsClient.ConnectAsync(cluster.A, users[0].Uid, users[0].Token);
        var initiate = await a.RequestAsync("initiateCall", new { receiverId = users[1].Uid + "\n", receiverType = "user", callType = "audio" });
        var accept = await a.RequestAsync("acceptCall", new { sessionId = $"{Guid.NewGuid():N}\n" });

        Assert.Equal(HttpStatusCode.BadRequest, upgrade.StatusCode);
        Assert.Equal("ERR_BAD_REQUEST", initiate.ErrorCode());
        Assert.Equal("ERR_INVALID_SESSION_ID", accept.ErrorCode());
        Assert.Null((await a.RequestAsync("sync")).GetProperty("activeCall").GetString());
    }

    [Theory]
    [InlineData("evil\u202Egnp.exe")]
    [InlineData("Bob\u2066Alice\u2069")]
    [InlineData("\u200FBank")]
    [InlineData("Ali\u200Bce")]
    [InlineData("\uFEFFAdmin")]
    [InlineData("x\u061Cy")]
    [InlineData("x\u2060y")]
    public async Task A_user_or_group_name_with_bidi_overrides_or_zero_width_characters_is_refused(string name)
    {
        var (uid, _) = (await cluster.Admin.UsersAsync(1))[0];

        using var user = await cluster.Admin.SendAsync(HttpMethod.Post, "/v1/users", new { uid = $"n-{Guid.NewGuid():N}", name });
        using var group = await cluster.Admin.SendAsync(HttpMethod.Post, "/v1/groups", new { guid = $"g-{Guid.NewGuid():N}", name, members = new[] { uid } });

        Assert.Equal(HttpStatusCode.BadRequest, user.StatusCode);
        Assert.Equal("ERR_BAD_REQUEST", await Upgrade.ErrorCodeAsync(user));
        Assert.Equal(HttpStatusCode.BadRequest, group.StatusCode);
        Assert.Equal("ERR_BAD_REQUEST", await Upgrade.ErrorCodeAsync(group));
        Assert.True(Identifiers.IsValidName("Zoë Ångström 李"));
    }
}
