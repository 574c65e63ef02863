using System.ComponentModel.DataAnnotations;
using CallGrains.Abstractions;

namespace CallGrains.Grains;

/// <summary>The <c>Calls</c> section of configuration (PROTOCOL section 9).</summary>
public sealed class CallOptions
{
    public const string Section = "Calls";

    /// <summary>Ring timeout when the caller names none. Below 5 s only for tests; clients may ask for 5-180 s.</summary>
    [Range(1, Limits.MaxTimeoutSeconds)]
    public int RingTimeoutSeconds { get; set; } = 45;

    [Range(1, 3600)]
    public int DisconnectGraceSeconds { get; set; } = 30;

    [Range(1, 1000)]
    public int MaxGroupRing { get; set; } = 100;

    /// <summary>A group call with one participant left alone this long ends by itself (CometChat's idle timeout).</summary>
    [Range(1, 86_400)]
    public int IdleSessionEndSeconds { get; set; } = 180;

    /// <summary>Members a group may have; a create or an add beyond is refused with 400.</summary>
    [Range(1, 10_000)]
    public int MaxGroupMembers { get; set; } = 1000;

    /// <summary>
    /// A user's slot for a call that never got past ringing is treated as free this long after the ring deadline,
    /// so a call whose session was lost mid-way cannot keep anyone busy.
    /// </summary>
    [Range(1, 3600)]
    public int StaleRingSlackSeconds { get; set; } = 30;

    /// <summary>
    /// While a user is in a call, their devices are checked with the gateways holding them this often: a device whose
    /// socket the gateway no longer holds (a lost unregister) is dropped. The bound on a phantom device in a call.
    /// </summary>
    [Range(1, 3600)]
    public int PresenceCheckSeconds { get; set; } = 30;

    /// <summary>How long a user grain waits for one gateway to take an event before it goes on without it.</summary>
    [Range(100, 60_000)]
    public int DeliveryTimeoutMilliseconds { get; set; } = 2000;

    /// <summary>
    /// How long a settled call stays in the parties' histories (and answers late requests with its final state); it
    /// then goes from the store on its own.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:01", "3650.00:00:00")]
    public TimeSpan LogRetention { get; set; } = TimeSpan.FromDays(30);

    /// <summary>A user's history keeps at most this many entries; the oldest go first.</summary>
    [Range(1, 1_000_000)]
    public int MaxLogEntriesPerUser { get; set; } = 10_000;

    /// <summary>Calls a user may start a minute, summed over their devices and every node (PROTOCOL section 6).</summary>
    [Range(1, 1_000_000)]
    public int InitiatesPerMinute { get; set; } = 30;

    /// <summary>Calls a user may start at once before <see cref="InitiatesPerMinute"/> paces them.</summary>
    [Range(1, 1_000_000)]
    public int InitiateBurst { get; set; } = 10;

    /// <summary>
    /// Calls one caller may place to one callee (or ring them with in a group call) in a day without the callee answering
    /// one of them (rung, refused as busy or turned down): what one caller can put into another's history and ring them
    /// with. Answering resets it; past it a 1:1 call is refused and a group call leaves the member out.
    /// </summary>
    [Range(1, 1_000_000)]
    public int MaxUnansweredFromCallerPerDay { get; set; } = 20;

    /// <summary>Calls that may start in one group a minute, whoever starts them: a member rings up to <see cref="MaxGroupRing"/> people each time.</summary>
    [Range(1, 1_000_000)]
    public int GroupCallsPerMinute { get; set; } = 2;

    /// <summary>Calls that may start in one group at once before <see cref="GroupCallsPerMinute"/> paces them.</summary>
    [Range(1, 1_000_000)]
    public int GroupCallBurst { get; set; } = 3;
}

/// <summary>The device limit of the <c>Gateway</c> section, enforced by the user grain.</summary>
public sealed class DeviceOptions
{
    public const string Section = "Gateway";

    [Range(1, 100)]
    public int MaxDevicesPerUser { get; set; } = 10;
}

/// <summary>The push token limit of the <c>Push</c> section (PROTOCOL section 10), enforced by the user grain.</summary>
public sealed class PushTokenOptions
{
    public const string Section = "Push";

    /// <summary>Tokens one user may hold over all devices and platforms; past it the least recently registered goes.</summary>
    [Range(1, 1000)]
    public int MaxTokensPerUser { get; set; } = 20;

    /// <summary>Whether a call missed by a user (PROTOCOL section 8) sends an alert to their <c>apns</c> and <c>fcm</c> tokens.</summary>
    public bool MissedCallAlerts { get; set; } = true;
}
