using System.Net;

namespace CallGrains.Gateway.Tests;

/// <summary>Who pays for a request: not a forged address, not the owner of a revoked token, not a page's static files.</summary>
[Collection(FakeClockGroup.Name)]
public sealed class RateBucketTests(FakeClockNode fixture)
{
    [Fact]
    public async Task A_forged_X_Forwarded_For_from_a_peer_that_is_no_known_proxy_gets_no_fresh_bucket()
    {
        fixture.RefillBuckets();

        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < 6; i++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "/v1/users/nobody");
            request.Headers.Add("X-Forwarded-For", $"198.51.100.{i + 1}");
            using var response = await fixture.Admin.Http.SendAsync(request);
            statuses.Add(response.StatusCode);
        }

        Assert.Equal([.. Enumerable.Repeat(HttpStatusCode.Unauthorized, 5), HttpStatusCode.TooManyRequests], statuses);
    }

    [Fact]
    public async Task The_client_library_loads_even_for_an_address_over_its_budget()
    {
        fixture.RefillBuckets();
        for (var i = 0; i < 6; i++)
        {
            using (await fixture.Admin.SendAsync(HttpMethod.Get, "/v1/users/nobody", apiKey: null))
            {
            }
        }

        using var limited = await fixture.Admin.SendAsync(HttpMethod.Get, "/v1/users/nobody", apiKey: null);
        using var script = await fixture.Admin.Http.GetAsync(new Uri("/js/callgrains.js", UriKind.Relative));

        Assert.Equal(HttpStatusCode.TooManyRequests, limited.StatusCode);
        Assert.Equal(HttpStatusCode.OK, script.StatusCode);
    }

    [Fact]
    public async Task A_revoked_token_spends_its_own_budget_and_the_fresh_token_keeps_its_own()
    {
        fixture.RefillBuckets();
        var (uid, revoked) = (await fixture.Admin.UsersAsync(1))[0];
        using (await fixture.Admin.SendAsync(HttpMethod.Delete, $"/v1/users/{uid}/tokens"))
        {
        }

        var fresh = await fixture.Admin.TokenAsync(uid);

        var old = new List<HttpStatusCode>();
        for (var i = 0; i < 6; i++)
        {
            using var response = await GetCallAsync(revoked);
            old.Add(response.StatusCode);
        }

        using var owner = await GetCallAsync(fresh);

        Assert.Equal([.. Enumerable.Repeat(HttpStatusCode.Unauthorized, 5), HttpStatusCode.TooManyRequests], old);
        Assert.Equal(HttpStatusCode.NotFound, owner.StatusCode);
    }

    private Task<HttpResponseMessage> GetCallAsync(string token) =>
        fixture.Admin.SendAsync(HttpMethod.Get, $"/v1/calls/{Guid.NewGuid():N}", apiKey: null, bearer: token);
}
