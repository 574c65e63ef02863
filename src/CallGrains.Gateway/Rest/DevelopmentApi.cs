using System.ComponentModel.DataAnnotations;
using System.Net;
using System.Text.Json.Serialization;
using CallGrains.Abstractions;
using CallGrains.Gateway.Auth;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace CallGrains.Gateway.Rest;

/// <summary>
/// Development only (404 elsewhere): what the demo page needs to be tried without an admin key. Whoever reaches these
/// endpoints can sign in as anyone, so they are never mapped outside Development, and even there answer callers on
/// this machine only (404 to others: a laptop running the demo on a café network gives nothing away).
/// </summary>
public static class DevelopmentApi
{
    public static IServiceCollection AddDevelopmentApi(this IServiceCollection services, IHostEnvironment environment)
    {
        if (environment.IsDevelopment())
        {
            services.AddOptions<DemoOptions>().BindConfiguration(DemoOptions.Section).ValidateDataAnnotations().ValidateOnStart();
            services.AddSingleton<DemoUsers>();
        }

        return services;
    }

    public static WebApplication MapDevelopmentApi(this WebApplication app)
    {
        if (app.Environment.IsDevelopment())
        {
            var dev = app.MapGroup("/dev").AddEndpointFilter((context, next) =>
                IsLocal(context.HttpContext) ? next(context) : ValueTask.FromResult<object?>(Results.NotFound()));
            dev.MapPost("/signin", SignInAsync);
            dev.MapGet("/users", ListUsersAsync);
        }

        return app;
    }

    /// <summary>
    /// A caller on this machine: a loopback address, after forwarded headers (so a client behind a trusted proxy is
    /// judged by its own address, not the proxy's).
    /// </summary>
    public static bool IsLocal(HttpContext http) => http.Connection.RemoteIpAddress is { } address && IPAddress.IsLoopback(address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address);

    /// <summary>
    /// <c>{"uid","name"?}</c>: creates the user if missing (name defaults to the uid; an existing user keeps theirs) and
    /// answers <c>{"uid","name","authToken","expiresAt","iceServers"}</c>.
    /// </summary>
    private static async Task<IResult> SignInAsync(HttpRequest request, IGrainFactory grains, Tokens tokens, DemoUsers users, IOptions<DemoOptions> demo)
    {
        var (uid, name, refused) = await RestApi.ReadUserAsync(request, nameRequired: false);
        if (refused is not null)
        {
            return refused;
        }

        var user = grains.Ref<IUserGrain>(uid!);
        await user.Create(name ?? uid!);
        if (await user.GetProfile() is not { } profile || await user.GetTokenGeneration() is not { } generation)
        {
            return RestResults.Error(StatusCodes.Status404NotFound, CallErrorCode.UidNotFound, $"no user {uid}");
        }

        users.Add(profile.Uid);
        var (token, expiresAt) = tokens.IssueAuthToken(profile.Uid, generation);
        return Results.Json(new
        {
            uid = profile.Uid,
            name = profile.Name,
            authToken = token,
            expiresAt = expiresAt.ToUnixTimeSeconds(),
            iceServers = demo.Value.IceServers,
        });
    }

    /// <summary>
    /// <c>{"users":[{"uid","name","online","inCall"}]}</c>: the users signed in here, by name; online while a device is
    /// connected, inCall while they have an active call (ringing out or ongoing).
    /// </summary>
    private static async Task<IResult> ListUsersAsync(IGrainFactory grains, DemoUsers users)
    {
        var snapshots = await Task.WhenAll(users.All().Select(uid => grains.Ref<IUserGrain>(uid).GetSnapshot()));
        return Results.Json(new
        {
            users = snapshots.OfType<UserSnapshot>()
                .OrderBy(s => s.Name, StringComparer.OrdinalIgnoreCase)
                .Select(s => new { uid = s.Uid, name = s.Name, online = s.Devices.Length > 0, inCall = s.ActiveCall is not null }),
        });
    }
}

/// <summary>The <c>Demo</c> section (Development).</summary>
public sealed class DemoOptions
{
    public const string Section = "Demo";

    /// <summary>
    /// RTCPeerConnection <c>iceServers</c> the demo page uses (<c>[{"urls":"stun:stun.example.org:3478"}]</c>). Empty:
    /// host candidates only, enough on one machine or one LAN.
    /// </summary>
    public IceServer[] IceServers { get; set; } = [];

    /// <summary>How many signed-in users the demo lists; the oldest sign-in is forgotten first.</summary>
    [Range(1, 1000)]
    public int MaxUsers { get; set; } = 100;
}

public sealed class IceServer
{
    public string[] Urls { get; set; } = [];

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Username { get; set; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Credential { get; set; }
}

/// <summary>The users signed in through <c>/dev/signin</c> on this node, newest last, at most <c>Demo:MaxUsers</c>.</summary>
public sealed class DemoUsers(IOptions<DemoOptions> options)
{
    private readonly Lock _lock = new();
    private readonly OrderedDictionary<string, bool> _uids = new(StringComparer.Ordinal);

    public void Add(string uid)
    {
        lock (_lock)
        {
            _uids.Remove(uid);
            _uids.Add(uid, true);
            while (_uids.Count > options.Value.MaxUsers)
            {
                _uids.RemoveAt(0);
            }
        }
    }

    public string[] All()
    {
        lock (_lock)
        {
            return [.. _uids.Keys];
        }
    }
}
