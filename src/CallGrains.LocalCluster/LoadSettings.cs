namespace CallGrains.LocalCluster;

/// <summary>
/// Settings for hosts that carry load from a few users (the bench, the tests): the per-user abuse quotas (PROTOCOL
/// section 6, docs/reliability.md "Abuse bounds") raised out of the way, since one bench or test user starts far more
/// calls a minute than a person does. Later settings override them (a test about a quota passes its own).
/// </summary>
public static class LoadSettings
{
    public const int Raised = 1_000_000;

    public static readonly string[] NoCallQuotas =
    [
        $"--Calls:InitiatesPerMinute={Raised}",
        $"--Calls:InitiateBurst={Raised}",
        $"--Calls:MaxUnansweredFromCallerPerDay={Raised}",
        $"--Calls:GroupCallsPerMinute={Raised}",
        $"--Calls:GroupCallBurst={Raised}",
    ];
}
