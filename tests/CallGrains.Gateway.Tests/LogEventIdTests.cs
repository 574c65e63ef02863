using System.Reflection;
using CallGrains.Gateway.Protocol;
using Microsoft.Extensions.Logging;

namespace CallGrains.Gateway.Tests;

/// <summary>An operator filters and alerts on log event ids: each must name one message across the whole server.</summary>
public sealed class LogEventIdTests
{
    [Fact]
    public void Every_log_message_of_the_server_has_its_own_event_id()
    {
        Assembly[] server = [typeof(Wire).Assembly, typeof(CallGrains.Grains.CallOptions).Assembly, typeof(CallGrains.Host.SiloOptions).Assembly];
        var messages = server
            .SelectMany(a => a.GetTypes())
            .SelectMany(t => t.GetMethods(BindingFlags.Static | BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly))
            .Select(m => (Method: $"{m.DeclaringType!.Name}.{m.Name}", Attribute: m.GetCustomAttribute<LoggerMessageAttribute>()))
            .Where(m => m.Attribute is not null)
            .ToList();

        Assert.True(messages.Count >= 30, $"found only {messages.Count} log messages: the scan misses some");
        var shared = messages.GroupBy(m => m.Attribute!.EventId).Where(g => g.Count() > 1).Select(g => $"{g.Key}: {string.Join(", ", g.Select(m => m.Method))}");
        Assert.Empty(shared);
    }
}
