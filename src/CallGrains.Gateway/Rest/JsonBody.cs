using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace CallGrains.Gateway.Rest;

/// <summary>A JSON object as a request body, or why the body is not one (for the 400 answer).</summary>
internal static class JsonBody
{
    /// <summary>The body as a JSON object (the caller disposes it), read up to <paramref name="maxBytes"/> (below the server's limit for every request); or why not: too long, or <paramref name="shape"/>.</summary>
    public static async Task<(JsonDocument? Body, string? Problem)> ReadObjectAsync(HttpRequest request, int maxBytes, string shape)
    {
        var tooLong = $"the body must be at most {maxBytes} bytes";
        if (request.ContentLength > maxBytes)
        {
            return (null, tooLong);
        }

        var buffer = new byte[maxBytes + 1];
        var length = 0;
        int read;
        while (length < buffer.Length && (read = await request.Body.ReadAsync(buffer.AsMemory(length))) > 0)
        {
            length += read;
        }

        if (length > maxBytes)
        {
            return (null, tooLong);
        }

        try
        {
            return Object(JsonDocument.Parse(buffer.AsMemory(0, length)), shape);
        }
        catch (JsonException)
        {
            return (null, shape);
        }
    }

    /// <summary>The same, for a body bounded only by the server's limit for every request.</summary>
    public static async Task<(JsonDocument? Body, string? Problem)> ReadObjectAsync(HttpRequest request, string shape)
    {
        try
        {
            return Object(await JsonDocument.ParseAsync(request.Body), shape);
        }
        catch (JsonException)
        {
            return (null, shape);
        }
    }

    private static (JsonDocument? Body, string? Problem) Object(JsonDocument body, string shape)
    {
        if (body.RootElement.ValueKind == JsonValueKind.Object)
        {
            return (body, null);
        }

        body.Dispose();
        return (null, shape);
    }
}
