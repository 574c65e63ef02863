using System.ComponentModel.DataAnnotations;

namespace CallGrains.Grains.Webhooks;

/// <summary>Webhooks (PROTOCOL section 11): <c>Webhooks:*</c>.</summary>
public sealed class WebhookOptions
{
    public const string Section = "Webhooks";

    /// <summary>Endpoints at most; each one gets every event it asks for, so each costs a delivery per event.</summary>
    [Range(1, 100)]
    public int MaxEndpoints { get; set; } = 20;

    /// <summary>A receiver that has not answered 2xx within this many seconds failed this attempt.</summary>
    [Range(1, 60)]
    public int TimeoutSeconds { get; set; } = 10;

    /// <summary>How long an event is retried before its delivery fails (PROTOCOL: a day).</summary>
    public TimeSpan MaxAttemptAge { get; set; } = TimeSpan.FromDays(1);

    /// <summary>Deliveries waiting per endpoint at most; past it the oldest fail.</summary>
    [Range(10, 1_000_000)]
    public int MaxPendingPerEndpoint { get; set; } = 100_000;

    /// <summary>Finished deliveries kept per endpoint for <c>GET /v1/webhooks/{id}/deliveries</c>.</summary>
    [Range(10, 100_000)]
    public int KeptDeliveriesPerEndpoint { get; set; } = 1_000;

    /// <summary>Whether an endpoint may be <c>http://</c> (a receiver inside the same private network); <c>https://</c> otherwise.</summary>
    public bool AllowHttp { get; set; }

    /// <summary>Requests in flight per endpoint at most (different calls; one call's events go one after another).</summary>
    [Range(1, 64)]
    public int MaxConcurrentPerEndpoint { get; set; } = 8;
}
