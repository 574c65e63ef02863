using Microsoft.Playwright;
using Xunit.Abstractions;
using static Microsoft.Playwright.Assertions;

namespace CallGrains.Browser.Tests;

/// <summary>
/// One person on the demo page, in a browser context of their own (their own tab storage, so their own user and
/// device). Everything here is what that person does or sees; waits are bounded by <see cref="Patience"/>.
/// </summary>
public sealed class DemoUser : IAsyncDisposable
{
    /// <summary>Two shared busy cores run the node and two Chromium pages with video: be generous, but bounded.</summary>
    public static readonly TimeSpan Patience = TimeSpan.FromSeconds(45);

    private readonly IBrowserContext _context;
    private readonly List<string> _pageErrors = [];

    private DemoUser(IBrowserContext context, IPage page, string name)
    {
        _context = context;
        Page = page;
        Name = name;
    }

    public IPage Page { get; }

    public string Name { get; }

    public ILocator Call => Page.Locator("#call");

    public ILocator Notice => Page.Locator("#notice");

    /// <param name="node">The node whose demo page to open; the fixture's by default.</param>
    /// <param name="initScript">A script each page of this person runs before the page's own (a test's hook into the browser).</param>
    public static async Task<DemoUser> SignInAsync(
        BrowserFixture browser, string name, ITestOutputHelper output, int width = 1280, int height = 760, DevNode? node = null, string? initScript = null)
    {
        var context = await browser.Browser.NewContextAsync(new BrowserNewContextOptions
        {
            BaseURL = (node ?? browser.Node).BaseUri.ToString(),
            ViewportSize = new ViewportSize { Width = width, Height = height },
            Permissions = ["camera", "microphone"],
        });
        context.SetDefaultTimeout((float)Patience.TotalMilliseconds);
        if (initScript is not null)
        {
            await context.AddInitScriptAsync(initScript);
        }

        var page = await context.NewPageAsync();
        var user = new DemoUser(context, page, name);
        page.Console += (_, message) =>
        {
            if (message.Type is "error" or "warning")
            {
                output.WriteLine($"[{name} console {message.Type}] {message.Text}");
            }
        };
        page.PageError += (_, error) =>
        {
            output.WriteLine($"[{name} page error] {error}");
            lock (user._pageErrors)
            {
                user._pageErrors.Add(error);
            }
        };

        await page.GotoAsync("/");
        await page.GetByLabel("Your name").FillAsync(name);
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
        await Expect(page.Locator("#me-name")).ToHaveTextAsync(name);
        await Expect(page.Locator("#connection")).ToHaveTextAsync("Online");
        await user.ExpectIdleAsync();
        return user;
    }

    public string Uid => Name.ToLowerInvariant();

    /// <summary>Presses "Video call Bob" (or Audio) in the people list, once Bob shows there as online.</summary>
    public async Task CallAsync(DemoUser callee, string callType = "video")
    {
        var person = Page.Locator($"#people li[data-uid='{callee.Uid}']");
        await Expect(person).ToHaveAttributeAsync("data-presence", "online");
        await person.GetByRole(AriaRole.Button, new() { Name = $"{(callType == "video" ? "Video" : "Audio")} call {callee.Name}" }).ClickAsync();
    }

    public Task PressAsync(string button) => Call.GetByRole(AriaRole.Button, new() { Name = button, Exact = true }).ClickAsync();

    public async Task ExpectCallStateAsync(string state)
    {
        await Expect(Page.Locator("body")).ToHaveAttributeAsync("data-state", state);
        await Expect(Call).ToHaveAttributeAsync("data-state", state);
    }

    public async Task ExpectIdleAsync()
    {
        await Expect(Page.Locator("body")).ToHaveAttributeAsync("data-state", "idle");
        await Expect(Call).ToBeHiddenAsync();
    }

    /// <summary>The media connection is up and the other side's video plays: its clock moves on by a second.</summary>
    public async Task ExpectRemoteVideoPlaysAsync()
    {
        await Expect(Call).ToHaveAttributeAsync("data-pc-state", "connected");
        var timeout = new PageWaitForFunctionOptions { Timeout = (float)Patience.TotalMilliseconds, PollingInterval = 200 };
        await Page.WaitForFunctionAsync(
            "() => { const v = document.getElementById('remote-video'); return v.readyState >= 2 && !v.paused && v.currentTime > 0 && v.videoWidth > 0; }",
            null,
            timeout);
        var start = await Page.EvaluateAsync<double>("() => document.getElementById('remote-video').currentTime");
        await Page.WaitForFunctionAsync($"() => document.getElementById('remote-video').currentTime > {start.ToString(System.Globalization.CultureInfo.InvariantCulture)} + 1", null, timeout);
    }

    public async Task ScreenshotAsync(string name)
    {
        await Page.ScreenshotAsync(new PageScreenshotOptions { Path = Artifacts.PathFor(name) });
    }

    /// <summary>No script on the page failed.</summary>
    public void AssertNoPageErrors()
    {
        lock (_pageErrors)
        {
            Assert.Empty(_pageErrors);
        }
    }

    public async ValueTask DisposeAsync() => await _context.CloseAsync();
}

/// <summary>Where the tests leave their screenshots: TestResults/browser at the repository root.</summary>
public static class Artifacts
{
    /// <summary>Set to 1 to copy the call screenshot over docs/demo-call.png (the README's picture).</summary>
    public const string UpdateDocsVariable = "CALLGRAINS_UPDATE_DOCS_SCREENSHOT";

    public static string RepositoryRoot
    {
        get
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "CallGrains.sln")))
            {
                dir = dir.Parent;
            }

            return dir?.FullName ?? throw new InvalidOperationException("CallGrains.sln not found above the test's directory");
        }
    }

    public static string PathFor(string name)
    {
        var dir = Path.Combine(RepositoryRoot, "TestResults", "browser");
        Directory.CreateDirectory(dir);
        return Path.Combine(dir, $"{name}.png");
    }

    /// <summary>Puts screenshots next to each other, with captions, in one picture (both ends of a call).</summary>
    public static async Task SideBySideAsync(IBrowser browser, string name, params (string Shot, string Caption)[] shots)
    {
        var figures = string.Concat(shots.Select(s =>
            $"<figure><img src=\"data:image/png;base64,{Convert.ToBase64String(File.ReadAllBytes(PathFor(s.Shot)))}\"><figcaption>{s.Caption}</figcaption></figure>"));
        var page = await browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 400, Height = 300 } });
        try
        {
            await page.SetContentAsync(
                "<style>body{margin:0;display:inline-flex;gap:24px;align-items:flex-end;padding:24px;background:#e9edf3;font:15px system-ui,sans-serif;color:#445}" +
                "figure{margin:0}img{display:block;border-radius:12px;box-shadow:0 6px 24px rgba(0,0,0,.18)}figcaption{margin-top:10px;text-align:center}</style>" + figures);
            await page.Locator("body").ScreenshotAsync(new LocatorScreenshotOptions { Path = PathFor(name) });
        }
        finally
        {
            await page.CloseAsync();
        }
    }

    public static void PublishToDocs(string name, string docsName)
    {
        if (Environment.GetEnvironmentVariable(UpdateDocsVariable) == "1")
        {
            File.Copy(PathFor(name), Path.Combine(RepositoryRoot, "docs", docsName), overwrite: true);
        }
    }
}
