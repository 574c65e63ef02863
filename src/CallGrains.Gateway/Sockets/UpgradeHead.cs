using System.Buffers;
using System.Text;

namespace CallGrains.Gateway.Sockets;

/// <summary>
/// The head of a plain WebSocket upgrade to <c>/v1/ws</c>, read straight from a connection's bytes for the direct
/// upgrade (<see cref="DirectUpgrade"/>). Strict on purpose: anything unusual (another path or method, an encoded or
/// repeated query parameter, a repeated or folded header, a body, a non-ASCII byte, a head over
/// <see cref="MaxBytes"/>) is <see cref="Reading.NotDirect"/>, and Kestrel's own parser and the ASP.NET Core endpoint
/// take the request as they would without the direct path, with the same answers.
/// </summary>
internal sealed record UpgradeHead(string? Origin, string? Authorization, string[] Protocols, string? QueryToken, string? DeviceId, string Key)
{
    /// <summary>A head longer than this is left to Kestrel (whose own limits are 8 KiB a line, 32 KiB in all).</summary>
    public const int MaxBytes = 8 * 1024;

    private const string Path = "/v1/ws";

    // RFC 9110 field names are tokens: none of these.
    private static readonly SearchValues<char> NotInName = SearchValues.Create(" \t\"(),/;<=>?@[\\]{}");

    private static ReadOnlySpan<byte> Start => "GET /v1/ws"u8;

    private static ReadOnlySpan<byte> End => "\r\n\r\n"u8;

    public enum Reading
    {
        /// <summary>So far a prefix of an upgrade: wait for more bytes.</summary>
        NeedMore,

        /// <summary>Not a request the direct path takes: leave every byte to Kestrel.</summary>
        NotDirect,

        /// <summary>A well-formed upgrade; its head is <c>length</c> bytes.</summary>
        Parsed,
    }

    /// <summary>The offered subprotocols, as the ASP.NET Core path sees them.</summary>
    public bool Offers(string protocol) => Array.IndexOf(Protocols, protocol) >= 0;

    public static Reading TryRead(ReadOnlySequence<byte> input, out UpgradeHead? head, out int length)
    {
        head = null;
        length = 0;
        Span<byte> start = stackalloc byte[Start.Length + 1];
        var prefix = (int)Math.Min(input.Length, start.Length);
        input.Slice(0, prefix).CopyTo(start);
        if (prefix <= Start.Length)
        {
            return Start.StartsWith(start[..prefix]) ? Reading.NeedMore : Reading.NotDirect;
        }

        if (!start.StartsWith(Start) || (start[^1] != (byte)' ' && start[^1] != (byte)'?'))
        {
            return Reading.NotDirect;
        }

        var window = input.Slice(0, Math.Min(input.Length, MaxBytes));
        var bytes = window.IsSingleSegment ? window.FirstSpan : window.ToArray();
        var end = bytes.IndexOf(End);
        if (end < 0)
        {
            return window.Length < MaxBytes ? Reading.NeedMore : Reading.NotDirect;
        }

        length = end + End.Length;
        head = Parse(bytes[..end]);
        return head is null ? Reading.NotDirect : Reading.Parsed;
    }

    private static UpgradeHead? Parse(ReadOnlySpan<byte> bytes)
    {
        foreach (var b in bytes)
        {
            if (b is > 0x7E || (b < 0x20 && b is not (byte)'\r' and not (byte)'\n' and not (byte)'\t'))
            {
                return null;
            }
        }

        var lines = Encoding.ASCII.GetString(bytes).Split("\r\n");
        var request = lines[0];
        if (!request.EndsWith(" HTTP/1.1", StringComparison.Ordinal))
        {
            return null;
        }

        var target = request["GET ".Length..^" HTTP/1.1".Length];
        var query = target.Length == Path.Length ? "" : target[(Path.Length + 1)..];
        if ((target.Length > Path.Length && target[Path.Length] != '?') || query.AsSpan().IndexOfAny("%+# ") >= 0)
        {
            return null;
        }

        string? token = null, deviceId = null;
        foreach (var pair in query.Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var equals = pair.IndexOf('=', StringComparison.Ordinal);
            var name = equals < 0 ? pair : pair[..equals];
            var value = equals < 0 ? "" : pair[(equals + 1)..];
            if ((name.Equals("token", StringComparison.OrdinalIgnoreCase) && !Set(ref token, value))
                || (name.Equals("deviceId", StringComparison.OrdinalIgnoreCase) && !Set(ref deviceId, value)))
            {
                return null;
            }
        }

        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        for (var i = 1; i < lines.Length; i++)
        {
            var line = lines[i];
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0 || line.AsSpan(0, colon).IndexOfAny(NotInName) >= 0 || !headers.TryAdd(line[..colon], line[(colon + 1)..].Trim(' ', '\t')))
            {
                // Folded, nameless or repeated: Kestrel decides what it means.
                return null;
            }
        }

        if (headers.ContainsKey("Content-Length") || headers.ContainsKey("Transfer-Encoding") || !headers.ContainsKey("Host")
            || !string.Equals(headers.GetValueOrDefault("Upgrade"), "websocket", StringComparison.OrdinalIgnoreCase)
            || headers.GetValueOrDefault("Sec-WebSocket-Version") != "13"
            || !HasToken(headers.GetValueOrDefault("Connection"), "Upgrade")
            || headers.GetValueOrDefault("Sec-WebSocket-Key") is not { Length: 24 } key
            || !Convert.TryFromBase64String(key, stackalloc byte[16], out var keyBytes) || keyBytes != 16)
        {
            return null;
        }

        var protocols = headers.GetValueOrDefault("Sec-WebSocket-Protocol") ?? "";
        if (protocols.Contains('"', StringComparison.Ordinal))
        {
            return null;
        }

        return new UpgradeHead(
            headers.GetValueOrDefault("Origin"),
            headers.GetValueOrDefault("Authorization"),
            protocols.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries),
            token,
            deviceId,
            key);
    }

    private static bool Set(ref string? slot, string value)
    {
        if (slot is not null)
        {
            return false;
        }

        slot = value;
        return true;
    }

    private static bool HasToken(string? list, string token) =>
        list is not null && list.Split(',', StringSplitOptions.TrimEntries).Any(t => t.Equals(token, StringComparison.OrdinalIgnoreCase));
}
