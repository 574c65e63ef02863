using System.Text.Json;

namespace CallGrains.Gateway.Protocol;

/// <summary>
/// Strings a client sends that .NET cannot read: JSON allows a <c>\u</c> escape of a lone UTF-16 surrogate
/// (<c>"\ud800"</c>), which parses, but reading it as a string throws. Such input is a bad request, never a failure.
/// </summary>
public static class JsonText
{
    /// <summary>
    /// Whether a message that parsed holds a top-level string value that cannot be read (the fields a request names:
    /// nested objects such as <c>metadata</c> and a signal's <c>data</c> are passed on as the client wrote them).
    /// Messages with no <c>\u</c> escape (nearly all) are passed by one vectorized search.
    /// </summary>
    public static bool HasUnreadableString(ReadOnlySpan<byte> json)
    {
        if (json.IndexOf("\\u"u8) < 0)
        {
            return false;
        }

        var reader = new Utf8JsonReader(json, new JsonReaderOptions { MaxDepth = 64 });
        try
        {
            while (reader.Read())
            {
                if (reader.TokenType == JsonTokenType.String && reader.CurrentDepth == 1)
                {
                    _ = reader.GetString();
                }
            }
        }
        catch (InvalidOperationException)
        {
            return true;
        }
        catch (JsonException)
        {
            // Not valid JSON: the parse says so.
        }

        return false;
    }

    /// <summary>The element's string, or null when it is not a string or cannot be read (a lone surrogate).</summary>
    public static string? StringOrNull(JsonElement element)
    {
        if (element.ValueKind != JsonValueKind.String)
        {
            return null;
        }

        try
        {
            return element.GetString();
        }
        catch (InvalidOperationException)
        {
            return null;
        }
    }
}
