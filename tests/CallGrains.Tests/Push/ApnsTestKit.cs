using System.Security.Cryptography;
using CallGrains.Abstractions;
using CallGrains.Grains.Push;
using CallGrains.Grains.Push.Apns;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace CallGrains.Tests.Push;

/// <summary>A key pair of the test's own (its .p8 in a temp file), the emulator that knows its public half, a fake clock, and an <see cref="ApnsProvider"/> aimed at the emulator.</summary>
public sealed class ApnsTestKit : IAsyncDisposable
{
    public const string TeamId = "TEAM123456";
    public const string KeyId = "KEY1234567";
    public const string Topic = "com.example.phone";

    private readonly ECDsa _key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
    private readonly ILoggerFactory _loggers;

    private ApnsTestKit(TimeSpan attemptTimeout)
    {
        KeyPath = Path.Combine(Path.GetTempPath(), $"AuthKey_{Guid.NewGuid():N}.p8");
        KeyPem = _key.ExportPkcs8PrivateKeyPem();
        File.WriteAllText(KeyPath, KeyPem);
        _loggers = LoggerFactory.Create(logging => logging.SetMinimumLevel(LogLevel.Trace).AddProvider(Logs));
        AttemptTimeout = attemptTimeout;
    }

    public FakeTimeProvider Time { get; } = new(new DateTimeOffset(2026, 12, 2, 8, 0, 0, TimeSpan.Zero));

    public string KeyPath { get; }

    public string KeyPem { get; }

    public TimeSpan AttemptTimeout { get; }

    public ApnsEmulator Emulator { get; private set; } = null!;

    public ApnsProvider Provider { get; private set; } = null!;

    public PushMetrics Metrics { get; } = new();

    public CapturedLogs Logs { get; } = new();

    public static async Task<ApnsTestKit> StartAsync(TimeSpan? attemptTimeout = null)
    {
        // A long default: the fake clock is advanced by hand in tests that wait out a Retry-After, and must never time out a request on its way.
        var kit = new ApnsTestKit(attemptTimeout ?? TimeSpan.FromMinutes(5));
        kit.Emulator = await ApnsEmulator.StartAsync(ECDsa.Create(kit._key.ExportParameters(false)), TeamId, KeyId, Topic, kit.Time);
        kit.Provider = new ApnsProvider(Options.Create(kit.Settings()), kit.Time, kit.Metrics, kit._loggers.CreateLogger<ApnsProvider>());
        return kit;
    }

    public ApnsOptions Settings() => new()
    {
        TeamId = TeamId,
        KeyId = KeyId,
        PrivateKeyPath = KeyPath,
        Topic = Topic,
        Endpoint = Emulator.Endpoint,
        AttemptTimeout = AttemptTimeout,
    };

    public static string NewDeviceToken() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));

    public PushMessage Message(PushPlatform platform, PushKind kind, string? deviceToken = null, string sessionId = "call-1")
    {
        (string Name, string? Reason, string? Title, string? Body) wire = kind switch
        {
            PushKind.Ring => ("incomingCallReceived", null, platform == PushPlatform.Apns ? "Incoming video call" : null, platform == PushPlatform.Apns ? "from Alice" : null),
            PushKind.Cancel => ("incomingCallCanceled", "cancelled", null, null),
            _ => ("callMissed", null, "Missed video call from Alice", null),
        };
        var (name, reason, title, body) = wire;
        return new PushMessage
        {
            PushId = Guid.NewGuid(),
            Platform = platform,
            DeviceToken = deviceToken ?? NewDeviceToken(),
            Kind = kind,
            Event = name,
            SessionId = sessionId,
            CallJson = $$$"""{"sessionId":"{{{sessionId}}}","callType":"video","receiverType":"user","receiverId":"bob","initiator":{"uid":"alice","name":"Alice"},"status":"initiated","initiatedAt":1796198400,"joinedAt":null,"endedAt":null,"duration":null,"participants":[],"metadata":{}}""",
            Reason = reason,
            AlertTitle = title,
            AlertBody = body,
            ExpiresAt = Time.GetUtcNow().AddMinutes(kind == PushKind.Ring ? 1 : 60),
        };
    }

    public async ValueTask DisposeAsync()
    {
        Provider.Dispose();
        await Emulator.DisposeAsync();
        Metrics.Dispose();
        _loggers.Dispose();
        _key.Dispose();
        File.Delete(KeyPath);
    }
}
