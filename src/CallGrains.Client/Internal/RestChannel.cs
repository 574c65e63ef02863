using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace CallGrains.Client.Internal;

/// <summary>
/// JSON over HTTP to one server with one credential (a user's bearer token or the admin key): an answer's body, or
/// its <c>{"error":{"code","message"}}</c> as a <see cref="CallGrainsException"/>.
/// </summary>
internal sealed class RestChannel : IDisposable
{
    private readonly HttpClient _http;
    private readonly Action<HttpRequestHeaders> _authorize;

    public RestChannel(Uri server, HttpMessageHandler? handler, TimeSpan timeout, Action<HttpRequestHeaders> authorize)
    {
        _http = handler is null ? new HttpClient() : new HttpClient(handler, disposeHandler: false);
        _http.BaseAddress = server;
        _http.Timeout = timeout;
        _authorize = authorize;
    }

    public static RestChannel ForUser(Uri server, HttpMessageHandler? handler, TimeSpan timeout, string token) =>
        new(server, handler, timeout, headers => headers.Authorization = new AuthenticationHeaderValue("Bearer", token));

    /// <summary>Sends a request; returns the parsed body (an empty object for an empty one).</summary>
    public async Task<JsonElement> SendAsync(HttpMethod method, string path, object? body, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(method, new Uri(path, UriKind.Relative));
        _authorize(request.Headers);
        if (body is not null)
        {
            request.Content = new StringContent(JsonSerializer.Serialize(body, JsonOptions.Web), Encoding.UTF8, "application/json");
        }

        HttpResponseMessage response;
        try
        {
            response = await _http.SendAsync(request, cancellationToken).ConfigureAwait(false);
        }
        catch (HttpRequestException ex)
        {
            throw new CallGrainsException(ErrorCodes.NotConnected, $"could not reach {_http.BaseAddress}: {ex.Message}", innerException: ex);
        }
        catch (TaskCanceledException ex) when (!cancellationToken.IsCancellationRequested)
        {
            throw new CallGrainsException(ErrorCodes.Timeout, $"{method} {path} had no answer within {_http.Timeout.TotalSeconds:0} s", innerException: ex);
        }

        using (response)
        {
            var text = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
            JsonElement parsed;
            try
            {
                parsed = text.Length == 0 ? JsonOptions.EmptyObject : JsonDocument.Parse(text).RootElement.Clone();
            }
            catch (JsonException)
            {
                throw new CallGrainsException(ErrorCodes.Internal, $"{method} {path}: HTTP {(int)response.StatusCode} with a body that is not JSON", httpStatus: (int)response.StatusCode);
            }

            if (!response.IsSuccessStatusCode)
            {
                var (code, message) = WireFormat.Error(parsed) ?? (ErrorCodes.Internal, $"HTTP {(int)response.StatusCode}");
                throw new CallGrainsException(code, message, httpStatus: (int)response.StatusCode);
            }

            return parsed;
        }
    }

    public void Dispose() => _http.Dispose();
}

internal static class JsonOptions
{
    public static readonly JsonSerializerOptions Web = new(JsonSerializerDefaults.Web);

    public static readonly JsonElement EmptyObject = JsonDocument.Parse("{}").RootElement.Clone();
}
