using System.Net;
using System.Text;
using System.Text.Json;

namespace CallGrains.Gateway.Tests;

/// <summary>PROTOCOL section 8, groups, as an operator's backend uses them.</summary>
[Collection(TwoNodeGroup.Name)]
public sealed class GroupApiTests(TwoNodeFixture cluster)
{
    [Fact]
    public async Task A_group_is_created_once_changed_read_and_deleted()
    {
        var users = await cluster.Admin.UsersAsync(4, "grp");
        var guid = $"team-{Guid.NewGuid():N}";
        var uids = users.Select(u => u.Uid).ToArray();

        using var created = await cluster.Admin.SendAsync(HttpMethod.Post, "/v1/groups", new { guid, name = "Team", members = new[] { uids[2], uids[0], uids[2] } });
        using var again = await cluster.Admin.SendAsync(HttpMethod.Post, "/v1/groups", new { guid, name = "Other", members = Array.Empty<string>() });
        using var changed = await cluster.Admin.SendAsync(HttpMethod.Post, $"/v1/groups/{guid}/members", new { add = new[] { uids[1], uids[3] }, remove = new[] { uids[0] } });
        using var read = await new Admin(cluster.B.BaseUri).SendAsync(HttpMethod.Get, $"/v1/groups/{guid}");

        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        Assert.Equal((guid, "Team", Members(uids[0], uids[2])), await GroupOf(created));
        Assert.Equal((HttpStatusCode.Conflict, "ERR_BAD_REQUEST"), (again.StatusCode, await Answers.ErrorCodeOf(again)));
        Assert.Equal(HttpStatusCode.OK, changed.StatusCode);
        var expected = Members(uids[1], uids[2], uids[3]);
        Assert.Equal((guid, "Team", expected), await GroupOf(changed));
        Assert.Equal((guid, "Team", expected), await GroupOf(read));

        using var deleted = await cluster.Admin.SendAsync(HttpMethod.Delete, $"/v1/groups/{guid}");
        using var gone = await cluster.Admin.SendAsync(HttpMethod.Get, $"/v1/groups/{guid}");
        using var deletedAgain = await cluster.Admin.SendAsync(HttpMethod.Delete, $"/v1/groups/{guid}");
        using var changeGone = await cluster.Admin.SendAsync(HttpMethod.Post, $"/v1/groups/{guid}/members", new { add = new[] { uids[0] } });
        Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);
        Assert.Equal((HttpStatusCode.NotFound, "ERR_GUID_NOT_FOUND"), (gone.StatusCode, await Answers.ErrorCodeOf(gone)));
        Assert.Equal(HttpStatusCode.NotFound, deletedAgain.StatusCode);
        Assert.Equal((HttpStatusCode.NotFound, "ERR_GUID_NOT_FOUND"), (changeGone.StatusCode, await Answers.ErrorCodeOf(changeGone)));

        // The guid is free again once deleted.
        using var recreated = await cluster.Admin.SendAsync(HttpMethod.Post, "/v1/groups", new { guid, name = "Team 2" });
        Assert.Equal((guid, "Team 2", Members()), await GroupOf(recreated));
    }

    [Fact]
    public async Task Unknown_members_and_too_many_members_are_refused_and_change_nothing()
    {
        var users = await cluster.Admin.UsersAsync(2, "grq");
        var guid = $"team-{Guid.NewGuid():N}";
        var ghost = $"ghost-{Guid.NewGuid():N}";
        using var withGhost = await cluster.Admin.SendAsync(HttpMethod.Post, "/v1/groups", new { guid, name = "Team", members = new[] { users[0].Uid, ghost } });
        using var stillNone = await cluster.Admin.SendAsync(HttpMethod.Get, $"/v1/groups/{guid}");
        using var created = await cluster.Admin.SendAsync(HttpMethod.Post, "/v1/groups", new { guid, name = "Team", members = new[] { users[0].Uid } });
        using var addGhost = await cluster.Admin.SendAsync(HttpMethod.Post, $"/v1/groups/{guid}/members", new { add = new[] { users[1].Uid, ghost } });
        using var both = await cluster.Admin.SendAsync(HttpMethod.Post, $"/v1/groups/{guid}/members", new { add = new[] { users[1].Uid }, remove = new[] { users[1].Uid } });
        var crowd = Enumerable.Range(0, 1001).Select(i => $"crowd{i}").ToArray();
        using var tooMany = await cluster.Admin.SendAsync(HttpMethod.Post, $"/v1/groups/{guid}/members", new { add = crowd });
        using var tooManyAtCreate = await cluster.Admin.SendAsync(HttpMethod.Post, "/v1/groups", new { guid = $"big-{Guid.NewGuid():N}", name = "Big", members = crowd });
        using var after = await cluster.Admin.SendAsync(HttpMethod.Get, $"/v1/groups/{guid}");

        Assert.Equal((HttpStatusCode.NotFound, "ERR_UID_NOT_FOUND"), (withGhost.StatusCode, await Answers.ErrorCodeOf(withGhost)));
        Assert.Contains(ghost, await Answers.MessageOf(withGhost), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.NotFound, stillNone.StatusCode);
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        Assert.Equal((HttpStatusCode.NotFound, "ERR_UID_NOT_FOUND"), (addGhost.StatusCode, await Answers.ErrorCodeOf(addGhost)));
        Assert.Equal((HttpStatusCode.BadRequest, "ERR_BAD_REQUEST"), (both.StatusCode, await Answers.ErrorCodeOf(both)));
        Assert.Equal((HttpStatusCode.BadRequest, "ERR_BAD_REQUEST"), (tooMany.StatusCode, await Answers.ErrorCodeOf(tooMany)));
        Assert.Contains("at most 1000", await Answers.MessageOf(tooMany), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.BadRequest, tooManyAtCreate.StatusCode);
        Assert.Equal((guid, "Team", Members(users[0].Uid)), await GroupOf(after));
    }

    [Theory]
    [InlineData("/v1/groups", "not json")]
    [InlineData("/v1/groups", "[]")]
    [InlineData("/v1/groups", "{\"guid\":\"has space\",\"name\":\"x\"}")]
    [InlineData("/v1/groups", "{\"guid\":\"ok-guid\",\"name\":\"\"}")]
    [InlineData("/v1/groups", "{\"guid\":\"ok-guid\",\"name\":\"x\",\"members\":\"alice\"}")]
    [InlineData("/v1/groups", "{\"guid\":\"ok-guid\",\"name\":\"x\",\"members\":[1,2]}")]
    [InlineData("/v1/groups", "{\"guid\":\"ok-guid\",\"name\":\"x\",\"members\":[\"no space allowed\"]}")]
    [InlineData("/v1/groups/some-group/members", "{\"add\":{}}")]
    public async Task Bad_group_bodies_are_400(string path, string body)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        request.Headers.Add("X-Api-Key", GatewayNode.AdminKey);

        using var response = await cluster.Admin.Http.SendAsync(request);

        Assert.Equal((HttpStatusCode.BadRequest, "ERR_BAD_REQUEST"), (response.StatusCode, await Answers.ErrorCodeOf(response)));
    }

    [Fact]
    public async Task Groups_need_the_admin_key()
    {
        var users = await cluster.Admin.UsersAsync(1, "grk");
        using var withToken = await cluster.Admin.SendAsync(HttpMethod.Post, "/v1/groups", new { guid = "g1", name = "x" }, apiKey: null, bearer: users[0].Token);
        using var wrongKey = await cluster.Admin.SendAsync(HttpMethod.Get, "/v1/groups/g1", apiKey: "wrong-key-0123456789");

        Assert.Equal(HttpStatusCode.Unauthorized, withToken.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, wrongKey.StatusCode);
    }

    /// <summary>The group in a response, its members joined by commas (so that tuples compare by value).</summary>
    private static async Task<(string Guid, string Name, string Members)> GroupOf(HttpResponseMessage response)
    {
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var root = body.RootElement;
        return (root.Str("guid"), root.Str("name"), string.Join(',', root.GetProperty("members").EnumerateArray().Select(m => m.GetString()!)));
    }

    private static string Members(params string[] uids) => string.Join(',', uids.Order(StringComparer.Ordinal));

}
