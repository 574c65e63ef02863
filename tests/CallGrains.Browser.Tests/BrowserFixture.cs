using Microsoft.Playwright;

namespace CallGrains.Browser.Tests;

/// <summary>
/// One Development node and one headless Debian Chromium for the browser tests, with fake camera and microphone.
/// Playwright drives the browser with the driver its NuGet package ships (no browser download): the browser is the
/// system's <c>/usr/bin/chromium</c> (tests/run.sh installs it).
/// </summary>
public sealed class BrowserFixture : IAsyncLifetime
{
    public const string ChromiumPath = "/usr/bin/chromium";

    private IPlaywright? _playwright;

    public DevNode Node { get; private set; } = null!;

    public IBrowser Browser { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        if (!File.Exists(ChromiumPath))
        {
            throw new InvalidOperationException($"{ChromiumPath} is missing: install Debian's chromium (apt-get install -y chromium; tests/run.sh does it)");
        }

        // Playwright's assertions wait 5 s by default, actions 30 s: both get the same bounded patience here.
        Assertions.SetDefaultExpectTimeout((float)DemoUser.Patience.TotalMilliseconds);
        Node = await DevNode.StartAsync("Development");
        _playwright = await Playwright.CreateAsync();
        List<string> args =
        [
            "--use-fake-device-for-media-stream",
            "--use-fake-ui-for-media-stream",
            "--autoplay-policy=no-user-gesture-required",
        ];
        if (Environment.UserName == "root")
        {
            // Chromium refuses to run as root inside its sandbox.
            args.Add("--no-sandbox");
        }

        Browser = await _playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = ChromiumPath,
            Headless = true,
            Args = args,
            Timeout = 60_000,
        });
    }

    public async Task DisposeAsync()
    {
        if (Browser is not null)
        {
            await Browser.CloseAsync();
        }

        _playwright?.Dispose();
        if (Node is not null)
        {
            await Node.DisposeAsync();
        }
    }
}

[CollectionDefinition(Name)]
public sealed class BrowserGroup : ICollectionFixture<BrowserFixture>
{
    public const string Name = "browser";
}
