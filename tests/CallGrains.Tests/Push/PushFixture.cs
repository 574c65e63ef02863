using System.Security.Cryptography;
using System.Text.Json;
using CallGrains.Abstractions;
using CallGrains.Gateway.Protocol;
using CallGrains.Grains.Push;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Orleans.TestingHost;

namespace CallGrains.Tests.Push;

/// <summary>
/// One silo with both push providers configured (PROTOCOL section 10's settings) and aimed at the APNs and FCM
/// emulators: the production dispatch path from a call's transition to the provider's wire.
/// </summary>
public sealed class PushFixture : IAsyncLifetime
{
    private readonly ECDsa _apnsKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
    private string _keyPath = "";

    public InProcessTestCluster Cluster { get; private set; } = null!;

    public CallTestKit Kit { get; private set; } = null!;

    public ApnsEmulator Apns { get; private set; } = null!;

    public FcmEmulator Fcm { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        _keyPath = Path.Combine(Path.GetTempPath(), $"AuthKey_{Guid.NewGuid():N}.p8");
        await File.WriteAllTextAsync(_keyPath, _apnsKey.ExportPkcs8PrivateKeyPem());
        Apns = await ApnsEmulator.StartAsync(ECDsa.Create(_apnsKey.ExportParameters(false)), ApnsTestKit.TeamId, ApnsTestKit.KeyId, ApnsTestKit.Topic, TimeProvider.System);
        Fcm = await FcmEmulator.StartAsync(TimeProvider.System);
        var settings = new Dictionary<string, string?>
        {
            ["Push:Apns:TeamId"] = ApnsTestKit.TeamId,
            ["Push:Apns:KeyId"] = ApnsTestKit.KeyId,
            ["Push:Apns:PrivateKeyPath"] = _keyPath,
            ["Push:Apns:Topic"] = ApnsTestKit.Topic,
            ["Push:Apns:Endpoint"] = Apns.Endpoint.ToString(),
            ["Push:Fcm:ProjectId"] = FcmEmulator.ProjectId,
            ["Push:Fcm:ServiceAccountPath"] = Fcm.ServiceAccountPath,
            ["Push:Fcm:Endpoint"] = Fcm.Endpoint.ToString(),
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
        Assert.True(Cluster.Silos[0].ServiceProvider.GetRequiredService<PushDispatcher>().Enabled, "push providers configured");
        Kit = new CallTestKit(Cluster);
    }

    public async Task DisposeAsync()
    {
        await Cluster.StopAllSilosAsync();
        await Cluster.DisposeAsync();
        await Apns.DisposeAsync();
        await Fcm.DisposeAsync();
        File.Delete(_keyPath);
    }

    /// <summary>The pushes APNs accepted for one device token, in arrival order.</summary>
    public ApnsPush[] ApnsPushes(string token) => [.. Apns.Accepted.Where(p => p.DeviceToken == token)];

    /// <summary>The messages (<c>message</c> objects) FCM accepted for one registration token, in arrival order.</summary>
    public JsonElement[] FcmPushes(string token) =>
        [.. Fcm.Accepted.Select(m => JsonSerializer.SerializeToElement(m)).Where(m => m.GetProperty("token").GetString() == token)];

    /// <summary>Waits (30 s at most) until APNs accepted <paramref name="count"/> pushes for the token.</summary>
    public async Task<ApnsPush[]> WaitApnsAsync(string token, int count)
    {
        await CallTestKit.EventuallyAsync(() => Task.FromResult(ApnsPushes(token).Length >= count), $"{count} APNs pushes to {token[..8]}");
        return ApnsPushes(token);
    }

    public async Task<JsonElement[]> WaitFcmAsync(string token, int count)
    {
        await CallTestKit.EventuallyAsync(() => Task.FromResult(FcmPushes(token).Length >= count), $"{count} FCM pushes to {token}");
        return FcmPushes(token);
    }
}

[CollectionDefinition(Name)]
public sealed class PushGroup : ICollectionFixture<PushFixture>
{
    public const string Name = "push";
}
