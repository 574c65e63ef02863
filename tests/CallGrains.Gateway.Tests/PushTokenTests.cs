using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace CallGrains.Gateway.Tests;

/// <summary>Push tokens over HTTP (PROTOCOL sections 8 and 10): what a phone app registers, lists and removes, and what an operator sees.</summary>
[Collection(TwoNodeGroup.Name)]
public sealed class PushTokenTests(TwoNodeFixture cluster)
{
    [Fact]
    public async Task A_device_registers_one_token_per_platform_replaces_it_and_removes_them()
    {
        var (_, token) = (await cluster.Admin.UsersAsync(1, "push"))[0];
        var (voip1, voip2, alert) = (ApnsToken(), ApnsToken(), ApnsToken());

        using var first = await PutAsync(token, "phone", "apns-voip", voip1.ToUpperInvariant());
        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        using (var body = JsonDocument.Parse(await first.Content.ReadAsStringAsync()))
        {
            Assert.Equal("phone", body.RootElement.Str("deviceId"));
            Assert.Equal("apns-voip", body.RootElement.Str("platform"));
            Assert.Equal(voip1, body.RootElement.Str("token"));
            Assert.InRange(body.RootElement.GetProperty("registeredAt").GetDouble(), DateTimeOffset.UtcNow.AddMinutes(-1).ToUnixTimeSeconds(), DateTimeOffset.UtcNow.AddMinutes(1).ToUnixTimeSeconds());
        }

        (await PutAsync(token, "phone", "apns", alert)).Dispose();
        (await PutAsync(token, "phone", "apns-voip", voip2)).Dispose();
        (await PutAsync(token, "tablet", "fcm", "fcm-token:tablet_1")).Dispose();
        Assert.Equal(
            [("tablet", "fcm", "fcm-token:tablet_1"), ("phone", "apns-voip", voip2), ("phone", "apns", alert)],
            await ListAsync(cluster.A.BaseUri, token));

        using var removed = await cluster.Admin.SendAsync(HttpMethod.Delete, "/v1/me/push-tokens/phone", apiKey: null, bearer: token);
        using var again = await cluster.Admin.SendAsync(HttpMethod.Delete, "/v1/me/push-tokens/phone", apiKey: null, bearer: token);
        using var never = await cluster.Admin.SendAsync(HttpMethod.Delete, "/v1/me/push-tokens/never-registered", apiKey: null, bearer: token);

        Assert.Equal(HttpStatusCode.NoContent, removed.StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, again.StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, never.StatusCode);
        Assert.Equal([("tablet", "fcm", "fcm-token:tablet_1")], await ListAsync(cluster.B.BaseUri, token));
    }

    [Theory]
    [InlineData("phone", """{"platform":"gcm","token":"abc"}""", "platform")]
    [InlineData("phone", """{"platform":"apns-voip"}""", "apns-voip token")]
    [InlineData("phone", """{"platform":"apns-voip","token":"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde"}""", "apns-voip token")]
    [InlineData("phone", """{"platform":"apns","token":"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdeg"}""", "apns token")]
    [InlineData("phone", """{"platform":"fcm","token":"has space"}""", "fcm token")]
    [InlineData("phone", """{"platform":"fcm","token":""}""", "fcm token")]
    [InlineData("phone", """{"platform":"fcm","token":5}""", "fcm token")]
    [InlineData("phone", """{"platform":"fcm","token":"\ud800"}""", "fcm token")]
    [InlineData("phone", """["fcm","abc"]""", "JSON object")]
    [InlineData("phone", "not json", "JSON object")]
    [InlineData("bad%20device", """{"platform":"fcm","token":"abc"}""", "deviceId")]
    [InlineData("d-0123456789012345678901234567890123456789012345678901234567890123", """{"platform":"fcm","token":"abc"}""", "deviceId")]
    public async Task Bad_registrations_are_400_and_store_nothing(string deviceId, string body, string named)
    {
        var (_, token) = (await cluster.Admin.UsersAsync(1, "pushbad"))[0];

        using var response = await PutRawAsync(token, deviceId, body);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains(named, await Answers.MessageOf(response), StringComparison.Ordinal);
        Assert.Empty(await ListAsync(cluster.A.BaseUri, token));
    }

    [Fact]
    public async Task Token_lengths_are_bounded_and_so_is_the_body()
    {
        var (_, token) = (await cluster.Admin.UsersAsync(1, "pushlen"))[0];

        using var longestApns = await PutAsync(token, "a", "apns", new string('f', 200));
        using var tooLongApns = await PutAsync(token, "b", "apns", new string('f', 201));
        using var longestFcm = await PutAsync(token, "c", "fcm", new string('x', 4096));
        using var tooLongFcm = await PutAsync(token, "d", "fcm", new string('x', 4097));
        using var hugeBody = await PutRawAsync(token, "e", $$"""{"platform":"fcm","token":"x","padding":"{{new string(' ', 10_000)}}"}""");

        Assert.Equal(HttpStatusCode.OK, longestApns.StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, tooLongApns.StatusCode);
        Assert.Equal(HttpStatusCode.OK, longestFcm.StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, tooLongFcm.StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, hugeBody.StatusCode);
        Assert.Contains("at most 8192 bytes", await Answers.MessageOf(hugeBody), StringComparison.Ordinal);
        Assert.Equal(["c", "a"], (await ListAsync(cluster.A.BaseUri, token)).Select(t => t.DeviceId));
    }

    [Fact]
    public async Task Past_the_cap_the_least_recently_registered_token_goes()
    {
        var (_, token) = (await cluster.Admin.UsersAsync(1, "pushcap"))[0];
        for (var i = 0; i < 20; i++)
        {
            using var registered = await PutAsync(token, $"d{i}", "fcm", $"t{i}");
            Assert.Equal(HttpStatusCode.OK, registered.StatusCode);
        }

        // d1 registers again (as an app does at each launch) and so stays; the 21st device pushes out d0, the 22nd d2.
        (await PutAsync(token, "d1", "fcm", "t1")).Dispose();
        using var twentyFirst = await PutAsync(token, "d20", "fcm", "t20");
        using var twentySecond = await PutAsync(token, "d21", "fcm", "t21");

        Assert.Equal(HttpStatusCode.OK, twentyFirst.StatusCode);
        Assert.Equal(HttpStatusCode.OK, twentySecond.StatusCode);
        var devices = (await ListAsync(cluster.A.BaseUri, token)).Select(t => t.DeviceId).ToList();
        Assert.Equal(20, devices.Count);
        Assert.Equal(["d21", "d20", "d1"], devices[..3]);
        Assert.DoesNotContain("d0", devices);
        Assert.DoesNotContain("d2", devices);
    }

    [Fact]
    public async Task A_token_registered_by_another_user_leaves_the_first()
    {
        var users = await cluster.Admin.UsersAsync(2, "pushmove");
        var shared = ApnsToken();
        (await PutAsync(users[0].Token, "phone", "apns-voip", shared)).Dispose();
        (await PutAsync(users[0].Token, "phone", "fcm", "kept-fcm")).Dispose();

        // The phone logs out of user 0 and into user 1: it must no longer ring for user 0.
        using var moved = await PutAsync(users[1].Token, "phone", "apns-voip", shared, cluster.B.BaseUri);

        Assert.Equal(HttpStatusCode.OK, moved.StatusCode);
        Assert.Equal([("phone", "fcm", "kept-fcm")], await ListAsync(cluster.A.BaseUri, users[0].Token));
        Assert.Equal([("phone", "apns-voip", shared)], await ListAsync(cluster.A.BaseUri, users[1].Token));

        // The same token under a new device id of the same user (a reinstalled app) leaves the old device too.
        (await PutAsync(users[1].Token, "phone-2", "apns-voip", shared)).Dispose();
        Assert.Equal([("phone-2", "apns-voip", shared)], await ListAsync(cluster.B.BaseUri, users[1].Token));

        // Only the token moved: the same platform with another token on user 0 is untouched by user 1's registrations.
        (await PutAsync(users[0].Token, "phone", "apns-voip", ApnsToken())).Dispose();
        (await PutAsync(users[1].Token, "phone-2", "apns-voip", shared)).Dispose();
        Assert.Equal(2, (await ListAsync(cluster.A.BaseUri, users[0].Token)).Count);
    }

    [Fact]
    public async Task Two_users_registering_one_token_at_once_leave_exactly_one_holder()
    {
        var users = await cluster.Admin.UsersAsync(2, "pushrace");
        for (var round = 0; round < 20; round++)
        {
            var shared = ApnsToken();
            var registrations = await Task.WhenAll(
                PutAsync(users[0].Token, "phone", "apns-voip", shared, cluster.A.BaseUri),
                PutAsync(users[1].Token, "phone", "apns-voip", shared, cluster.B.BaseUri));
            Assert.All(registrations, r => Assert.Equal(HttpStatusCode.OK, r.StatusCode));
            foreach (var registration in registrations)
            {
                registration.Dispose();
            }

            var holders = 0;
            foreach (var (_, token) in users)
            {
                holders += (await ListAsync(cluster.A.BaseUri, token)).Count(t => t.Token == shared);
            }

            Assert.True(holders == 1, $"round {round}: {holders} users hold the token");
        }
    }

    [Fact]
    public async Task Operators_read_a_users_tokens_as_short_hashes_only()
    {
        var (uid, token) = (await cluster.Admin.UsersAsync(1, "pushadmin"))[0];
        var voip = ApnsToken();
        (await PutAsync(token, "phone", "apns-voip", voip)).Dispose();

        using var read = await cluster.Admin.SendAsync(HttpMethod.Get, $"/v1/users/{uid}/push-tokens");
        using var unknown = await cluster.Admin.SendAsync(HttpMethod.Get, $"/v1/users/nobody-{Guid.NewGuid():N}/push-tokens");
        using var noKey = await cluster.Admin.SendAsync(HttpMethod.Get, $"/v1/users/{uid}/push-tokens", apiKey: null, bearer: token);

        Assert.Equal(HttpStatusCode.OK, read.StatusCode);
        var text = await read.Content.ReadAsStringAsync();
        Assert.DoesNotContain(voip, text, StringComparison.Ordinal);
        using var body = JsonDocument.Parse(text);
        var entry = Assert.Single(body.RootElement.GetProperty("pushTokens").EnumerateArray());
        Assert.Equal("phone", entry.Str("deviceId"));
        Assert.Equal("apns-voip", entry.Str("platform"));
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(voip)))[..8], entry.Str("tokenHash"));
        Assert.False(entry.TryGetProperty("token", out _));
        Assert.True(entry.GetProperty("registeredAt").GetDouble() > 0);
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        Assert.Equal("ERR_UID_NOT_FOUND", await Answers.ErrorCodeOf(unknown));
        Assert.Equal(HttpStatusCode.Unauthorized, noKey.StatusCode);
    }

    [Fact]
    public async Task Push_token_endpoints_need_a_valid_auth_token()
    {
        using var put = await cluster.Admin.SendAsync(HttpMethod.Put, "/v1/me/push-tokens/phone", new { platform = "fcm", token = "abc" });
        using var list = await cluster.Admin.SendAsync(HttpMethod.Get, "/v1/me/push-tokens", apiKey: null);
        using var delete = await cluster.Admin.SendAsync(HttpMethod.Delete, "/v1/me/push-tokens/phone", apiKey: null, bearer: "not-a-token");

        foreach (var response in new[] { put, list, delete })
        {
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
            Assert.Equal("ERR_USER_NOT_LOGGED_IN", await Answers.ErrorCodeOf(response));
        }
    }

    /// <summary>A token shaped like Apple's: 64 lowercase hex digits, fresh each time.</summary>
    private static string ApnsToken() => $"{Guid.NewGuid():N}{Guid.NewGuid():N}";

    private Task<HttpResponseMessage> PutAsync(string bearer, string deviceId, string platform, string token, Uri? node = null) =>
        PutRawAsync(bearer, deviceId, JsonSerializer.Serialize(new { platform, token }), node);

    private async Task<HttpResponseMessage> PutRawAsync(string bearer, string deviceId, string body, Uri? node = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Put, new Uri(node ?? cluster.A.BaseUri, $"/v1/me/push-tokens/{deviceId}"))
        {
            Content = new StringContent(body, Encoding.UTF8, "application/json"),
        };
        request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", bearer);
        return await cluster.Admin.Http.SendAsync(request);
    }

    private async Task<List<(string DeviceId, string Platform, string Token)>> ListAsync(Uri node, string bearer)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(node, "/v1/me/push-tokens"));
        request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", bearer);
        using var response = await cluster.Admin.Http.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return [.. body.RootElement.GetProperty("pushTokens").EnumerateArray().Select(e => (e.Str("deviceId"), e.Str("platform"), e.Str("token")))];
    }
}
