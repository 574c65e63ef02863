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
}

/// <summary>The device limit of the <c>Gateway</c> section, enforced by the user grain.</summary>
public sealed class DeviceOptions
{
    public const string Section = "Gateway";

    [Range(1, 100)]
    public int MaxDevicesPerUser { get; set; } = 10;
}
