using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace CallGrains.Gateway.Tests;

/// <summary>The admin REST API, as an operator would use it.</summary>
public sealed class Admin(Uri baseUri, string adminKey = Admin.DefaultKey) : IDisposable
{
    public const string DefaultKey = "test-admin-key-0123456789abcdef-0123456789";

    private readonly HttpClient _http = new() { BaseAddress = baseUri, Timeout = TimeSpan.FromSeconds(30) };

    public HttpClient Http => _http;

    public async Task<HttpResponseMessage> SendAsync(HttpMethod method, string path, object? body = null, string? apiKey = "", string? bearer = null)
    {
        using var request = new HttpRequestMessage(method, path);
        if (apiKey is not null)
        {
            request.Headers.Add("X-Api-Key", apiKey.Length == 0 ? adminKey : apiKey);
        }

        if (bearer is not null)
        {
            request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", bearer);
        }

        if (body is not null)
        {
            request.Content = JsonContent.Create(body);
        }

        return await _http.SendAsync(request);
    }

    /// <summary>Creates users with fresh uids and returns (uid, token) pairs.</summary>
    public async Task<(string Uid, string Token)[]> UsersAsync(int count, string prefix = "u")
    {
        var run = Guid.NewGuid().ToString("N")[..8];
        var users = new (string, string)[count];
        for (var i = 0; i < count; i++)
        {
            var uid = $"{prefix}{i}-{run}";
            using var created = await SendAsync(HttpMethod.Post, "/v1/users", new { uid, name = $"User {i}" });
            Assert.Equal(HttpStatusCode.Created, created.StatusCode);
            users[i] = (uid, await TokenAsync(uid));
        }

        return users;
    }

    public async Task<string> TokenAsync(string uid)
    {
        using var response = await SendAsync(HttpMethod.Post, $"/v1/users/{uid}/tokens");
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        using var doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return doc.RootElement.GetProperty("authToken").GetString()!;
    }

    /// <summary>Waits until a user created through one node is visible through the other (the cluster has formed).</summary>
    public async Task WaitForClusterAsync(Uri other)
    {
        using var second = new Admin(other, adminKey);
        var deadline = DateTime.UtcNow.AddSeconds(60);
        var uid = $"probe-{Guid.NewGuid():N}";
        using (await SendAsync(HttpMethod.Post, "/v1/users", new { uid, name = "probe" }))
        {
        }

        while (true)
        {
            try
            {
                using var response = await second.SendAsync(HttpMethod.Get, $"/v1/users/{uid}");
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
            }

            Assert.True(DateTime.UtcNow < deadline, "the second node never joined the cluster");
            await Task.Delay(200);
        }
    }

    public void Dispose() => _http.Dispose();
}

/// <summary>The error body of a REST answer: <c>{"error":{"code","message"}}</c>.</summary>
public static class Answers
{
    public static async Task<string> ErrorCodeOf(HttpResponseMessage response) => (await ErrorOf(response)).Code;

    public static async Task<string> MessageOf(HttpResponseMessage response) => (await ErrorOf(response)).Message;

    private static async Task<(string Code, string Message)> ErrorOf(HttpResponseMessage response)
    {
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var error = body.RootElement.GetProperty("error");
        return (error.Str("code"), error.Str("message"));
    }
}
