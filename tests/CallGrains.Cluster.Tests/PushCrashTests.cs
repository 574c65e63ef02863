using System.Net;
using System.Security.Cryptography;
using CallGrains.Gateway.Tests;
using CallGrains.Tests.Push;
using Xunit.Abstractions;

namespace CallGrains.Cluster.Tests;

/// <summary>
/// Pushes owed when the node that held the calls dies (issue 20, PROTOCOL section 10), on real processes: three hosts
/// over Redis, APNs configured on each and aimed at the emulator in this process.
/// </summary>
public sealed class PushCrashTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const string TeamId = "TEAM123456";
    private const string KeyId = "KEY1234567";
    private const string Topic = "com.example.phone";
    private const int RingSeconds = 50;
    private const int Pairs = 6;

    private readonly ECDsa _key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
    private readonly string _keyPath = Path.Combine(Path.GetTempPath(), $"AuthKey_{Guid.NewGuid():N}.p8");
    private readonly Dictionary<string, string> _tokens = [];
    private readonly Dictionary<string, string> _alertTokens = [];
    private ApnsEmulator _apns = null!;
    private LocalCluster.Cluster _cluster = null!;

    public async Task InitializeAsync()
    {
        await File.WriteAllTextAsync(_keyPath, _key.ExportPkcs8PrivateKeyPem());
        _apns = await ApnsEmulator.StartAsync(ECDsa.Create(_key.ExportParameters(false)), TeamId, KeyId, Topic, TimeProvider.System);

        // A hung attempt stays hung until the process dies (no timeout and retry on the victim), and nobody's grace ends.
        _cluster = await LocalCluster.Cluster.StartAsync(3, adminKey: Admin.DefaultKey, extra:
        [
            .. LocalCluster.LoadSettings.NoCallQuotas,
            "--Calls:DisconnectGraceSeconds=300",
            $"--Push:Apns:TeamId={TeamId}",
            $"--Push:Apns:KeyId={KeyId}",
            $"--Push:Apns:PrivateKeyPath={_keyPath}",
            $"--Push:Apns:Topic={Topic}",
            $"--Push:Apns:Endpoint={_apns.Endpoint}",
            "--Push:Apns:AttemptTimeout=00:03:00",
        ]);
    }

    public async Task DisposeAsync()
    {
        foreach (var host in _cluster.Hosts)
        {
            foreach (var line in host.Output.Where(l => l.Contains("Push", StringComparison.Ordinal)).TakeLast(40))
            {
                output.WriteLine($"{host.HttpPort}: {line}");
            }
        }

        await _cluster.DisposeAsync();
        await _apns.DisposeAsync();
        File.Delete(_keyPath);
    }

    [Fact]
    public async Task Kill_9_of_the_node_holding_ringing_calls_with_pushes_on_the_wire_still_rings_every_phone_and_never_after_the_ring_ended()
    {
        var (victim, survivor) = (_cluster.Hosts[2], _cluster.Hosts[0]);
        using var admin = new Admin(survivor.Url);
        var users = await admin.UsersAsync(2 * Pairs, "pk");
        var callers = users.Where((_, i) => i % 2 == 0).ToArray();
        var callees = users.Where((_, i) => i % 2 == 1).ToArray();

        // Each callee is a phone asleep: a PushKit token (calls) and an APNs token (alerts), no socket.
        foreach (var (uid, token) in callees)
        {
            _tokens[uid] = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));
            _alertTokens[uid] = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));
            using var voip = await admin.SendAsync(HttpMethod.Put, "/v1/me/push-tokens/iphone", new { platform = "apns-voip", token = _tokens[uid] }, apiKey: null, bearer: token);
            Assert.Equal(HttpStatusCode.OK, voip.StatusCode);
            using var alert = await admin.SendAsync(HttpMethod.Put, "/v1/me/push-tokens/iphone", new { platform = "apns", token = _alertTokens[uid] }, apiKey: null, bearer: token);
            Assert.Equal(HttpStatusCode.OK, alert.StatusCode);
        }

        // The callers are on the victim, so their calls live there. Every ring push hangs at APNs while it is on the wire.
        _apns.Script([.. Enumerable.Repeat(ApnsAnswer.Hang, Pairs)]);
        var sessions = new Dictionary<string, string>();
        for (var p = 0; p < Pairs; p++)
        {
            await using var caller = await WsClient.ConnectAsync(victim.Url, callers[p].Uid, callers[p].Token, "dev");
            var call = await caller.CallAsync(callees[p].Uid, RingSeconds);
            Assert.True(call.IsOk(), call.ToString());
            sessions[callees[p].Uid] = call.SessionId();
        }

        var ringEnds = DateTime.UtcNow.AddSeconds(RingSeconds);
        await TrueAsync(() => _apns.Requests >= Pairs, TimeSpan.FromSeconds(60), "every ring push on the wire (hung)");
        Assert.Empty(_apns.Accepted);
        await victim.KillAsync();
        var killedAt = DateTime.UtcNow;

        // Every phone is still rung: the calls' owed pushes outlived the node and went out from a survivor, with the
        // id the lost attempt had.
        await TrueAsync(() => callees.All(c => Pushes(c.Uid).Length >= 1), TimeSpan.FromSeconds(RingSeconds), "a ring push for every callee after the kill");
        foreach (var (uid, _) in callees)
        {
            var ring = Pushes(uid)[0];
            Assert.Equal("incomingCallReceived", Event(ring));
            Assert.True(ring.At.UtcDateTime < ringEnds, $"ring push at {ring.At:O}, ring ended {ringEnds:O}");
        }

        output.WriteLine($"every ring push re-sent {(Pushes(callees[^1].Uid)[0].At.UtcDateTime - killedAt).TotalSeconds:F1} s after the kill at the latest: " +
            string.Join(", ", callees.Select(c => $"{(Pushes(c.Uid)[0].At.UtcDateTime - killedAt).TotalSeconds:F1}")));

        // The callers come back on a survivor; half cancel, the other half's calls go unanswered. Each phone is told
        // the ring stopped, and no ring push reaches it after that.
        for (var p = 0; p < Pairs / 2; p++)
        {
            await using var caller = await WsClient.ConnectAsync(survivor.Url, callers[p].Uid, callers[p].Token, "dev");
            Assert.True((await caller.RequestAsync("rejectCall", new { sessionId = sessions[callees[p].Uid], status = "cancelled" })).IsOk());
        }

        await TrueAsync(
            () => callees.All(c => Pushes(c.Uid).Any(p => Event(p) == "incomingCallCanceled")),
            TimeSpan.FromSeconds(RingSeconds + 60),
            "a cancel push for every callee");
        foreach (var (p, (uid, _)) in callees.Select((c, p) => (p, c)))
        {
            var pushes = Pushes(uid);
            var cancel = Array.FindIndex(pushes, x => Event(x) == "incomingCallCanceled");
            Assert.All(pushes[..cancel], x => Assert.Equal("incomingCallReceived", Event(x)));
            Assert.DoesNotContain(pushes[cancel..], x => Event(x) == "incomingCallReceived");
            Assert.Equal(p < Pairs / 2 ? "cancelled" : "unanswered", pushes[cancel].Payload.GetProperty("callgrains").GetProperty("reason").GetString());

            // At least once, recognisably: every ring push of a call carries one id.
            Assert.Single(pushes[..cancel].Select(x => x.Headers["apns-id"]).Distinct());
        }

        // Cancelled by the caller or unanswered, each call was missed: an alert on the phone's APNs token (the PushKit
        // token rang it, so the alert token got nothing else).
        await TrueAsync(() => callees.All(c => Alerts(c.Uid).Length >= 1), TimeSpan.FromSeconds(60), "a missed-call alert for every callee");
        foreach (var (uid, _) in callees)
        {
            Assert.All(Alerts(uid), x => Assert.Equal("callMissed", Event(x)));
            Assert.Equal(sessions[uid], Alerts(uid)[0].Payload.GetProperty("callgrains").GetProperty("call").GetProperty("sessionId").GetString());
        }
    }

    /// <summary>What APNs accepted for a callee's phone, in arrival order.</summary>
    private ApnsPush[] Pushes(string uid) => [.. _apns.Accepted.Where(p => p.DeviceToken == _tokens[uid])];

    private ApnsPush[] Alerts(string uid) => [.. _apns.Accepted.Where(p => p.DeviceToken == _alertTokens[uid])];

    private static Task TrueAsync(Func<bool> condition, TimeSpan timeout, string what) => Eventually.Async(() => Task.FromResult(condition()), what, timeout);

    private static string? Event(ApnsPush push) => push.Payload.GetProperty("callgrains").GetProperty("event").GetString();
}
