using System.Collections.Immutable;
using System.Security.Cryptography;
using System.Text;
using CallGrains.Abstractions;
using CallGrains.Gateway.Protocol;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Orleans.TestingHost;
using StandardWebhooks;

namespace CallGrains.Tests.Webhooks;

/// <summary>One silo whose webhook endpoints point at a real receiver on loopback (short timeout, small backlog bound).</summary>
public sealed class WebhookFixture : IAsyncLifetime
{
    public const int TimeoutSeconds = 2;
    public const int MaxPending = 10;

    public InProcessTestCluster Cluster { get; private set; } = null!;

    public CallTestKit Kit { get; private set; } = null!;

    public WebhookReceiver Receiver { get; private set; } = null!;

    public IWebhookRegistryGrain Registry => Cluster.Client.GetGrain<IWebhookRegistryGrain>(IWebhookRegistryGrain.Key);

    public async Task InitializeAsync()
    {
        Receiver = await WebhookReceiver.StartAsync();
        var settings = new Dictionary<string, string?>
        {
            ["Webhooks:AllowHttp"] = "true",
            ["Webhooks:TimeoutSeconds"] = TimeoutSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Webhooks:MaxPendingPerEndpoint"] = MaxPending.ToString(System.Globalization.CultureInfo.InvariantCulture),
        };
        var builder = new InProcessTestClusterBuilder(1);
        builder.ConfigureSiloHost((_, host) => host.Configuration.AddInMemoryCollection(settings));
        builder.ConfigureSilo((_, silo) =>
        {
            ClusterFixture.AddEmbeddedCallGrains(silo);
            silo.Services.AddSingleton<IWireText, WireText>();
        });
        Cluster = builder.Build();
        await Cluster.DeployAsync();
        Kit = new CallTestKit(Cluster);
    }

    public async Task DisposeAsync()
    {
        await Cluster.StopAllSilosAsync();
        await Cluster.DisposeAsync();
        await Receiver.DisposeAsync();
    }

    /// <summary>A new endpoint at its own receiver path, taking events once every silo's dispatcher has read it.</summary>
    public async Task<(WebhookEndpoint Endpoint, string Path)> EndpointAsync(params string[] events)
    {
        var path = $"hook-{Guid.NewGuid():N}";
        var created = await Registry.Create(Receiver.Url(path), events.Length == 0 ? [WebhookEvents.All] : [.. events]);
        Assert.True(created.Endpoint is not null, created.Problem);

        // The dispatchers read the endpoint list at most every 2 s.
        await Task.Delay((2 * Grains.Webhooks.WebhookDispatcher.RefreshInterval) + TimeSpan.FromMilliseconds(500));
        return (created.Endpoint, path);
    }
}

[CollectionDefinition(Name)]
public sealed class WebhookGroup : ICollectionFixture<WebhookFixture>
{
    public const string Name = "webhooks";
}

/// <summary>
/// What the app's backend receives (PROTOCOL section 11), end to end through a real receiver: every event of a call,
/// signed, in order; retries; 410; the backlog bound; a receiver that was down.
/// </summary>
[Collection(WebhookGroup.Name)]
public sealed class WebhookDeliveryTests(WebhookFixture fixture)
{
    private readonly CallTestKit _kit = fixture.Kit;
    private readonly WebhookReceiver _receiver = fixture.Receiver;

    [Fact]
    public async Task A_calls_events_arrive_in_order_signed_as_a_receiver_checks_them()
    {
        var (endpoint, path) = await fixture.EndpointAsync();
        var (a, b) = await _kit.CreatePairAsync();
        var call = await _kit.ConnectAsync(a, b);
        await _kit.EndAsync(call.SessionId, a);

        var events = await ForCallAsync(path, call.SessionId, 3);
        Assert.Equal([WebhookEvents.Initiated, WebhookEvents.Accepted, WebhookEvents.Ended], events.Select(e => e.Type));
        Assert.Equal([a, b, a], events.Select(e => e.Json.GetProperty("data").GetProperty("user").GetProperty("uid").GetString()));
        Assert.Equal(["initiated", "ongoing", "ended"], events.Select(e => e.Json.GetProperty("data").GetProperty("call").GetProperty("status").GetString()));
        Assert.Equal(3, events.Select(e => e.Id).Distinct().Count());
        foreach (var e in events)
        {
            // As a receiver checks it: the library's verifier, and the HMAC by hand.
            new StandardWebhook(endpoint.Secret).Verify(e.Body, e.Headers);
            Assert.Equal("v1," + Hmac(endpoint.Secret, $"{e.Id}.{e.Timestamp}.{e.Body}"), e.Signature);
            Assert.InRange(long.Parse(e.Timestamp, System.Globalization.CultureInfo.InvariantCulture), DateTimeOffset.UtcNow.AddMinutes(-5).ToUnixTimeSeconds(), DateTimeOffset.UtcNow.ToUnixTimeSeconds() + 1);
        }

        // A forged body fails the receiver's check.
        Assert.ThrowsAny<Exception>(() => new StandardWebhook(endpoint.Secret).Verify(events[0].Body.Replace("initiated", "ongoing", StringComparison.Ordinal), events[0].Headers));
        await fixture.Registry.Delete(endpoint.Id);
    }

    [Fact]
    public async Task A_group_calls_joins_declines_and_leaves_are_events_and_filters_hold()
    {
        var (all, path) = await fixture.EndpointAsync();
        var (endedOnly, endedPath) = await fixture.EndpointAsync(WebhookEvents.Ended);
        var uids = await _kit.CreateUsersAsync(4, "wg");
        var groupId = $"g-{Guid.NewGuid():N}";
        Assert.Equal(GroupOutcome.Done, (await _kit.Client.GetGrain<IGroupGrain>(groupId).Create("Team", [.. uids])).Outcome);
        var started = await _kit.GroupCallAsync(groupId, uids[0]);
        var session = _kit.Session(started.Call!.SessionId);
        Assert.True((await session.AcceptCall(uids[1], null)).Ok);
        Assert.True((await session.RejectCall(uids[2], CallStatus.Rejected, null)).Ok);
        Assert.True((await session.LeaveCall(uids[1], null)).Ok);
        await _kit.EndAsync(started.Call.SessionId, uids[0]);

        var events = await ForCallAsync(path, started.Call.SessionId, 6);
        Assert.Equal(
            [
                (WebhookEvents.Initiated, uids[0]), (WebhookEvents.Accepted, uids[1]), (WebhookEvents.ParticipantJoined, uids[1]),
                (WebhookEvents.Rejected, uids[2]), (WebhookEvents.ParticipantLeft, uids[1]), (WebhookEvents.Ended, uids[0]),
            ],
            events.Select(e => (e.Type, e.Json.GetProperty("data").GetProperty("user").GetProperty("uid").GetString())));
        var ended = await ForCallAsync(endedPath, started.Call.SessionId, 1);
        Assert.Equal(WebhookEvents.Ended, Assert.Single(ended).Type);
        await fixture.Registry.Delete(all.Id);
        await fixture.Registry.Delete(endedOnly.Id);
    }

    [Fact]
    public async Task A_failed_attempt_is_retried_with_the_same_id_and_a_fresh_signature_after_a_500_and_after_a_timeout()
    {
        var (endpoint, path) = await fixture.EndpointAsync(WebhookEvents.Initiated);
        _receiver.Script(path, 500, WebhookReceiver.Hang);
        var (a, b) = await _kit.CreatePairAsync();
        var call = await _kit.RingAsync(a, b);

        // 500, then (5 s later) no answer within the timeout, then (30 s later) 200.
        await CallTestKit.EventuallyAsync(() => Task.FromResult(_receiver.Delivered(path).Length == 1), "delivered after two failures", 90_000);
        var attempts = _receiver.All(path);
        Assert.Equal([500, WebhookReceiver.Hang, 200], attempts.Select(x => x.Answer));
        Assert.Single(attempts.Select(x => x.Id).Distinct());
        Assert.Equal(3, attempts.Select(x => x.Timestamp).Distinct().Count());
        Assert.All(attempts, x => new StandardWebhook(endpoint.Secret).Verify(x.Body, x.Headers));
        Assert.InRange((attempts[1].At - attempts[0].At).TotalSeconds, 4, 60);

        var delivery = Assert.Single(await _kit.Client.GetGrain<IWebhookDeliveryGrain>(endpoint.Id).Deliveries(WebhookDeliveryStatus.Delivered, 10));
        Assert.Equal([500, null, 200], delivery.Attempts.Select(x => x.StatusCode));
        Assert.Contains("no answer within", delivery.Attempts[1].Error);
        Assert.True((await _kit.Session(call.SessionId).RejectCall(a, CallStatus.Cancelled, null)).Ok);
        await fixture.Registry.Delete(endpoint.Id);
    }

    [Fact]
    public async Task A_call_whose_event_hangs_at_the_receiver_holds_up_only_that_call()
    {
        var (endpoint, path) = await fixture.EndpointAsync(WebhookEvents.Initiated);
        _receiver.Script(path, WebhookReceiver.Hang);
        var (a, b) = await _kit.CreatePairAsync();
        var (c, d) = await _kit.CreatePairAsync();
        var stuck = await _kit.RingAsync(a, b);
        await CallTestKit.EventuallyAsync(() => Task.FromResult(_receiver.All(path).Length == 1), "the first event hanging");
        var other = await _kit.RingAsync(c, d);

        // The other call's event goes while the first hangs (and is retried 5 s after its timeout).
        await CallTestKit.EventuallyAsync(() => Task.FromResult(_receiver.Delivered(path).Length == 2), "both delivered", 60_000);
        Assert.Equal([other.SessionId, stuck.SessionId], _receiver.Delivered(path).Select(e => e.SessionId));
        Assert.True((await _kit.Session(stuck.SessionId).RejectCall(a, CallStatus.Cancelled, null)).Ok);
        Assert.True((await _kit.Session(other.SessionId).RejectCall(c, CallStatus.Cancelled, null)).Ok);
        await fixture.Registry.Delete(endpoint.Id);
    }

    [Fact]
    public async Task A_receiver_that_answers_410_disables_its_endpoint()
    {
        var (endpoint, path) = await fixture.EndpointAsync();
        _receiver.Script(path, 410);
        var (a, b) = await _kit.CreatePairAsync();
        var call = await _kit.RingAsync(a, b);
        await CallTestKit.EventuallyAsync(async () => (await fixture.Registry.Find(endpoint.Id))?.DisabledAt is not null, "the endpoint disabled");
        Assert.True((await _kit.Session(call.SessionId).RejectCall(a, CallStatus.Cancelled, null)).Ok);
        await CallTestKit.EventuallyAsync(async () => await _kit.Log.FindAsync(call.SessionId) is not null, "the call archived");

        // Nothing more is sent to it, and what waited is failed, visible in its deliveries.
        await Task.Delay(TimeSpan.FromSeconds(1));
        Assert.Single(_receiver.All(path));
        var deliveries = await _kit.Client.GetGrain<IWebhookDeliveryGrain>(endpoint.Id).Deliveries(null, 10);
        Assert.All(deliveries, d => Assert.Equal(WebhookDeliveryStatus.Failed, d.Status));
        Assert.Contains("410", (await fixture.Registry.Find(endpoint.Id))!.DisabledReason);
        await fixture.Registry.Delete(endpoint.Id);
    }

    [Fact]
    public async Task The_backlog_of_an_endpoint_that_is_down_is_bounded_and_the_oldest_fail()
    {
        var (endpoint, path) = await fixture.EndpointAsync(WebhookEvents.Initiated, WebhookEvents.Cancelled);
        _receiver.SetDown(path, true);
        var (a, b) = await _kit.CreatePairAsync();
        for (var i = 0; i < 7; i++)
        {
            var call = await _kit.RingAsync(a, b);
            Assert.True((await _kit.Session(call.SessionId).RejectCall(a, CallStatus.Cancelled, null)).Ok);
            await _kit.EventuallyFreeAsync(a, b);
        }

        var deliveries = _kit.Client.GetGrain<IWebhookDeliveryGrain>(endpoint.Id);
        await CallTestKit.EventuallyAsync(async () => (await deliveries.Deliveries(null, 100)).Length == 14, "all 14 events queued or failed");
        Assert.Equal(WebhookFixture.MaxPending, (await deliveries.Deliveries(WebhookDeliveryStatus.Pending, 100)).Length);
        var dropped = await deliveries.Deliveries(WebhookDeliveryStatus.Failed, 100);
        Assert.Equal(4, dropped.Length);
        Assert.All(dropped, d => Assert.Contains("backlog", d.Attempts[^1].Error));
        await fixture.Registry.Delete(endpoint.Id);
    }

    [Fact]
    public async Task A_receiver_down_for_a_while_gets_every_event_in_order_per_call_once_it_is_back()
    {
        var (endpoint, path) = await fixture.EndpointAsync();
        _receiver.SetDown(path, true);
        var (a, b) = await _kit.CreatePairAsync();
        var (c, d) = await _kit.CreatePairAsync();
        var sessions = new List<string>();
        for (var i = 0; i < 2; i++)
        {
            var first = await _kit.RingAsync(a, b);
            var second = await _kit.RingAsync(c, d);
            Assert.True((await _kit.Session(first.SessionId).RejectCall(b, CallStatus.Rejected, null)).Ok);
            Assert.True((await _kit.Session(second.SessionId).RejectCall(c, CallStatus.Cancelled, null)).Ok);
            await _kit.EventuallyFreeAsync(a, b, c, d);
            sessions.AddRange([first.SessionId, second.SessionId]);
        }

        await CallTestKit.EventuallyAsync(() => Task.FromResult(_receiver.All(path).Length >= 2), "attempts while down");
        _receiver.SetDown(path, false);
        await CallTestKit.EventuallyAsync(() => Task.FromResult(_receiver.Delivered(path).Length == 8), "all 8 events once back", 120_000);
        foreach (var session in sessions)
        {
            var types = _receiver.Delivered(path).Where(e => e.SessionId == session).Select(e => e.Type).ToArray();
            Assert.Equal(WebhookEvents.Initiated, types[0]);
            Assert.Contains(types[1], new[] { WebhookEvents.Rejected, WebhookEvents.Cancelled });
        }

        await fixture.Registry.Delete(endpoint.Id);
    }

    [Fact]
    public async Task Bad_endpoints_are_refused_with_a_reason()
    {
        Assert.Contains("absolute", (await fixture.Registry.Create("not a url", [WebhookEvents.All])).Problem);
        Assert.Contains("events", (await fixture.Registry.Create("https://example.com/h", ["call.exploded"])).Problem);
        Assert.Contains("events", (await fixture.Registry.Create("https://example.com/h", ImmutableArray<string>.Empty)).Problem);
        Assert.Contains("credentials", (await fixture.Registry.Create("https://user:pw@example.com/h", [WebhookEvents.All])).Problem);
        var created = await fixture.Registry.Create("https://example.com/h", [WebhookEvents.Ended, WebhookEvents.Ended]);
        Assert.Equal([WebhookEvents.Ended], created.Endpoint!.Events.ToArray());
        Assert.StartsWith("whsec_", created.Endpoint.Secret);
        Assert.Equal(24, Convert.FromBase64String(created.Endpoint.Secret["whsec_".Length..]).Length);
        Assert.True(await fixture.Registry.Delete(created.Endpoint.Id));
        Assert.False(await fixture.Registry.Delete(created.Endpoint.Id));
    }

    /// <summary>The events of one call a path got and answered 2xx to, once <paramref name="count"/> have.</summary>
    private async Task<ReceivedWebhook[]> ForCallAsync(string path, string sessionId, int count)
    {
        await CallTestKit.EventuallyAsync(() => Task.FromResult(_receiver.Delivered(path).Count(e => e.SessionId == sessionId) >= count), $"{count} events of {sessionId}");
        return [.. _receiver.Delivered(path).Where(e => e.SessionId == sessionId)];
    }

    private static string Hmac(string secret, string content) =>
        Convert.ToBase64String(HMACSHA256.HashData(Convert.FromBase64String(secret["whsec_".Length..]), Encoding.UTF8.GetBytes(content)));
}
