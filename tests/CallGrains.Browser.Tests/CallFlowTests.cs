using Xunit.Abstractions;
using static Microsoft.Playwright.Assertions;

namespace CallGrains.Browser.Tests;

/// <summary>Two people on the demo page in one headless Chromium, calling each other through a real node.</summary>
[Collection(BrowserGroup.Name)]
public sealed class CallFlowTests(BrowserFixture browser, ITestOutputHelper output)
{
    // xunit makes an instance per test: names unique to this test, so a test that failed mid-call disturbs no other.
    private readonly string _run = Guid.NewGuid().ToString("N")[..6];

    [Fact]
    public async Task Video_call_connects_both_browsers_plays_remote_video_and_hangs_up()
    {
        // Plain names (the screenshots go in the docs): this is the only test that uses them on this node.
        await using var alice = await DemoUser.SignInAsync(browser, "Alice", output);
        await using var bob = await DemoUser.SignInAsync(browser, "Bob", output, width: 390, height: 760);
        await alice.ScreenshotAsync("home-desktop");

        await alice.CallAsync(bob, "video");
        await alice.ExpectCallStateAsync("outgoing");
        await Expect(alice.Call).ToContainTextAsync($"Calling {bob.Name}…");

        await bob.ExpectCallStateAsync("incoming");
        await Expect(bob.Call).ToContainTextAsync($"{alice.Name} is calling");
        await Expect(bob.Call).ToContainTextAsync("Video call");
        await bob.ScreenshotAsync("ringing-phone");

        await bob.PressAsync("Accept");
        await alice.ExpectCallStateAsync("in-call");
        await bob.ExpectCallStateAsync("in-call");
        await alice.ExpectRemoteVideoPlaysAsync();
        await bob.ExpectRemoteVideoPlaysAsync();
        await Expect(alice.Call).ToContainTextAsync(bob.Name);
        await alice.ScreenshotAsync("call-desktop");
        await bob.ScreenshotAsync("call-phone");
        await Artifacts.SideBySideAsync(browser.Browser, "demo-call", ("call-desktop", "Alice, in a desktop window"), ("call-phone", "Bob, at phone width"));
        Artifacts.PublishToDocs("demo-call", "demo-call.png");

        // A third person calling Bob now is told he is busy.
        await using (var carol = await DemoUser.SignInAsync(browser, "Carol", output))
        {
            var bobRow = carol.Page.Locator($"#people li[data-uid='{bob.Uid}']");
            await Expect(bobRow).ToHaveAttributeAsync("data-presence", "in-call");
            await bobRow.GetByRole(Microsoft.Playwright.AriaRole.Button, new() { Name = $"Audio call {bob.Name}" }).ClickAsync();
            await Expect(carol.Notice).ToHaveTextAsync($"{bob.Name} is busy on another call");
            await carol.ExpectIdleAsync();
            carol.AssertNoPageErrors();
        }

        await alice.PressAsync("Hang up");
        await alice.ExpectIdleAsync();
        await bob.ExpectIdleAsync();
        await Expect(alice.Notice).ToContainTextAsync("Call ended");
        await Expect(bob.Notice).ToContainTextAsync($"{alice.Name} hung up");
        await Expect(alice.Page.Locator("#history")).ToContainTextAsync($"To {bob.Name} · video");
        alice.AssertNoPageErrors();
        bob.AssertNoPageErrors();
    }

    [Fact]
    public async Task Callee_declines_and_the_caller_sees_it_declined()
    {
        await using var alice = await SignInFreshAsync("Alice");
        await using var bob = await SignInFreshAsync("Bob");

        await alice.CallAsync(bob, "audio");
        await bob.ExpectCallStateAsync("incoming");
        await Expect(bob.Call).ToContainTextAsync("Audio call");
        await bob.PressAsync("Decline");

        await Expect(alice.Notice).ToHaveTextAsync($"{bob.Name} declined the call");
        await alice.ExpectIdleAsync();
        await bob.ExpectIdleAsync();
        alice.AssertNoPageErrors();
        bob.AssertNoPageErrors();
    }

    [Fact]
    public async Task Caller_cancels_while_it_rings_and_the_ring_stops()
    {
        await using var alice = await SignInFreshAsync("Alice");
        await using var bob = await SignInFreshAsync("Bob");

        await alice.CallAsync(bob, "video");
        await bob.ExpectCallStateAsync("incoming");
        await alice.ExpectCallStateAsync("outgoing");
        await alice.ScreenshotAsync("outgoing-desktop");
        await alice.PressAsync("Cancel");

        await bob.ExpectIdleAsync();
        await Expect(bob.Notice).ToHaveTextAsync($"Missed call from {alice.Name} (cancelled)");
        await alice.ExpectIdleAsync();
        await Expect(alice.Notice).ToHaveTextAsync($"Call to {bob.Name} cancelled");
        alice.AssertNoPageErrors();
        bob.AssertNoPageErrors();
    }

    [Fact]
    public async Task A_reloaded_page_rings_again_and_a_reload_mid_call_brings_the_media_back()
    {
        await using var alice = await SignInFreshAsync("Alice");
        await using var bob = await SignInFreshAsync("Bob");

        await alice.CallAsync(bob, "video");
        await bob.ExpectCallStateAsync("incoming");
        await bob.Page.ReloadAsync();
        await bob.ExpectCallStateAsync("incoming");
        await Expect(bob.Call).ToContainTextAsync($"{alice.Name} is calling");

        await bob.PressAsync("Accept");
        await alice.ExpectCallStateAsync("in-call");
        await bob.ExpectRemoteVideoPlaysAsync();

        // Bob's page reloads mid-call: it finds the call in its welcome and asks Alice's page to start the media over.
        await bob.Page.ReloadAsync();
        await bob.ExpectCallStateAsync("in-call");
        await bob.ExpectRemoteVideoPlaysAsync();
        await alice.ExpectRemoteVideoPlaysAsync();

        await alice.PressAsync("Hang up");
        await alice.ExpectIdleAsync();
        await bob.ExpectIdleAsync();
        alice.AssertNoPageErrors();
        bob.AssertNoPageErrors();
    }

    private Task<DemoUser> SignInFreshAsync(string name) => DemoUser.SignInAsync(browser, $"{name}{_run}", output);
}
