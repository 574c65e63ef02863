namespace CallGrains.Gateway.Tests;

/// <summary>A WebSocket upgrade sent as a plain HTTP request, to read how the server refuses it before the upgrade.</summary>
public static class Upgrade
{
    public static async Task<HttpResponseMessage> SendAsync(HttpClient http, string? token, string? query = null, string? origin = null, string? subprotocols = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, $"/v1/ws{(query is null ? "" : $"?{query}")}");
        request.Headers.Add("Connection", "Upgrade");
        request.Headers.Add("Upgrade", "websocket");
        request.Headers.Add("Sec-WebSocket-Version", "13");
        request.Headers.Add("Sec-WebSocket-Key", Convert.ToBase64String(Guid.NewGuid().ToByteArray()));
        if (token is not null)
        {
            request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
        }

        if (subprotocols is not null)
        {
            request.Headers.Add("Sec-WebSocket-Protocol", subprotocols);
        }

        if (origin is not null)
        {
            request.Headers.Add("Origin", origin);
        }

        return await http.SendAsync(request);
    }

    /// <summary>The <c>error.code</c> of a JSON error body.</summary>
    public static async Task<string> ErrorCodeAsync(HttpResponseMessage response)
    {
        using var body = System.Text.Json.JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return body.RootElement.GetProperty("error").Str("code");
    }
}
