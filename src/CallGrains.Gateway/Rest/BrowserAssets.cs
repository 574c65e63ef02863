using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.FileProviders;
using Microsoft.Extensions.Hosting;

namespace CallGrains.Gateway.Rest;

/// <summary>
/// The files for browsers, embedded in this assembly (wwwroot/): the client library at <c>/js/</c> in every
/// environment, and the demo page's files at <c>/demo/</c> in Development only (its page is served at <c>/</c>).
/// </summary>
public static class BrowserAssets
{
    private const string Root = "CallGrains.Gateway.wwwroot";

    private static readonly EmbeddedFileProvider Demo = new(typeof(BrowserAssets).Assembly, $"{Root}.demo");

    public static WebApplication UseBrowserAssets(this WebApplication app)
    {
        app.UseStaticFiles(Options(new EmbeddedFileProvider(typeof(BrowserAssets).Assembly, $"{Root}.js"), "/js"));
        if (app.Environment.IsDevelopment())
        {
            app.UseStaticFiles(Options(Demo, "/demo"));
        }

        return app;
    }

    /// <summary>The demo page (<c>demo/index.html</c>); the host serves it at <c>/</c> in Development.</summary>
    public static IResult DemoPage() => new DemoPageResult();

    internal static IFileInfo DemoFile(string name) => Demo.GetFileInfo(name);

    private static StaticFileOptions Options(IFileProvider files, string path) => new()
    {
        FileProvider = files,
        RequestPath = path,

        // Embedded files change with the build; revalidating (ETag) keeps a browser from running yesterday's client.
        OnPrepareResponse = context => context.Context.Response.Headers.CacheControl = "no-cache",
    };
}

internal sealed class DemoPageResult : IResult
{
    public async Task ExecuteAsync(HttpContext httpContext)
    {
        httpContext.Response.ContentType = "text/html; charset=utf-8";
        httpContext.Response.Headers.CacheControl = "no-cache";
        await using var page = BrowserAssets.DemoFile("index.html").CreateReadStream();
        await page.CopyToAsync(httpContext.Response.Body, httpContext.RequestAborted);
    }
}
