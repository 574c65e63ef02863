using System.Net.Http.Json;
using System.Text.Json;

namespace CallGrains.Bench;

public sealed class BenchAdmin(Uri server, string adminKey) : IDisposable
{
    private readonly HttpClient _http = new() { BaseAddress = server };

    /// <summary>Creates users (bounded parallelism) and returns their tokens.</summary>
    public Task<(string Uid, string Token)[]> CreateUsersAsync(string prefix, int count) =>
        CreateUsersAsync(prefix, [.. Enumerable.Range(0, count)]);

    /// <summary>Creates the users <c>{prefix}{n}</c> for each n in <paramref name="numbers"/>; their tokens, in that order.</summary>
    public async Task<(string Uid, string Token)[]> CreateUsersAsync(string prefix, int[] numbers)
    {
        var result = new (string, string)[numbers.Length];
        await Parallel.ForEachAsync(Enumerable.Range(0, numbers.Length), new ParallelOptions { MaxDegreeOfParallelism = 32 }, async (i, ct) =>
        {
            var uid = $"{prefix}{numbers[i]}";
            using var create = new HttpRequestMessage(HttpMethod.Post, "/v1/users") { Content = JsonContent.Create(new { uid, name = uid }) };
            create.Headers.Add("X-Api-Key", adminKey);
            using (var created = await _http.SendAsync(create, ct))
            {
                if (!created.IsSuccessStatusCode && created.StatusCode != System.Net.HttpStatusCode.Conflict)
                {
                    throw new InvalidOperationException($"creating {uid}: {created.StatusCode}");
                }
            }

            using var issue = new HttpRequestMessage(HttpMethod.Post, $"/v1/users/{uid}/tokens");
            issue.Headers.Add("X-Api-Key", adminKey);
            using var issued = await _http.SendAsync(issue, ct);
            issued.EnsureSuccessStatusCode();
            using var doc = JsonDocument.Parse(await issued.Content.ReadAsStringAsync(ct));
            result[i] = (uid, doc.RootElement.GetProperty("authToken").GetString()!);
        });
        return result;
    }

    /// <summary>Creates a group of existing users.</summary>
    public async Task CreateGroupAsync(string groupId, IEnumerable<string> members)
    {
        using var create = new HttpRequestMessage(HttpMethod.Post, "/v1/groups") { Content = JsonContent.Create(new { guid = groupId, name = groupId, members }) };
        create.Headers.Add("X-Api-Key", adminKey);
        using var created = await _http.SendAsync(create);
        if (!created.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"creating group {groupId}: {created.StatusCode} {await created.Content.ReadAsStringAsync()}");
        }
    }

    public async Task<string> MetricsAsync() => await _http.GetStringAsync("/metrics");

    public void Dispose() => _http.Dispose();
}
