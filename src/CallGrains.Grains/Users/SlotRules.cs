using System.Collections.Immutable;
using CallGrains.Abstractions;

namespace CallGrains.Grains.Users;

/// <summary>The state an update leaves, the delivery it owes the user's devices, and whether it named a call the slot does not hold.</summary>
public readonly record struct SlotChange(UserState Next, GatewayDelivery? Delivery, bool Mismatch);

/// <summary>
/// What a user decides about its one call slot, with no storage, timers or messages: a reservation (free, glare or
/// taken), whether an update was applied before, what an update does to the slot and the seq, the updates remembered
/// after a call let the user go, and the snapshot a device is shown. <see cref="UserGrain"/> stores and publishes what
/// these decide, as <see cref="Calls.CallSessionGrain"/> does with the call rules.
/// </summary>
public static class SlotRules
{
    /// <summary>Applied transitions of released calls remembered to drop their redeliveries.</summary>
    public const int MaxSettled = 16;

    /// <summary>Callers whose unanswered calls a user counts at once; the oldest count goes first.</summary>
    public const int MaxTallies = 64;

    /// <summary>How long unanswered calls from one caller are counted from the first of them.</summary>
    public static readonly TimeSpan TallyWindow = TimeSpan.FromDays(1);

    /// <summary>
    /// Whether an event delivered after the request that caused it has answered goes to the device that acted too: that
    /// response went out without the seq, so the device would see a gap. Not "answered elsewhere", which would tell the
    /// device that answered the opposite of what it did: it is left the gap, which <c>sync</c> repairs (PROTOCOL 2).
    /// </summary>
    public static bool AlsoToActor(CallEvent? evt) => evt is not { Reason: CancelReason.AnsweredElsewhere };

    /// <summary>Whether a ringing (or pending) slot has passed the expiry its session gave it; an ongoing slot never lapses.</summary>
    public static bool IsLapsed(CallSlot slot, DateTimeOffset now) =>
        slot is { ExpiresAt: { } expires } && slot.Phase != SlotPhase.Ongoing && now > expires;

    /// <summary>
    /// Free (or already this call's): reserved. Held by a ringing 1:1 call with the same peer in the other role: glare,
    /// the two calls meet. Anything else: taken, naming the call that holds the slot.
    /// </summary>
    public static Reservation Reserve(UserState state, CallSlot? slot, SlotRequest request)
    {
        if (state.Profile is null)
        {
            return new Reservation { Outcome = ReservationOutcome.UserNotFound };
        }

        if (slot is null || slot.SessionId == request.Call.SessionId)
        {
            return new Reservation { Outcome = ReservationOutcome.Reserved, Seq = state.Seq, Profile = state.Profile };
        }

        var glare = slot.Phase is SlotPhase.Pending or SlotPhase.Ringing
            && slot.Role != request.Role
            && slot.PeerId == request.PeerId
            && slot.Call.ReceiverType == ReceiverType.User
            && request.Call.ReceiverType == ReceiverType.User;
        return new Reservation
        {
            Outcome = glare ? ReservationOutcome.Glare : ReservationOutcome.Taken,
            Seq = state.Seq,
            HeldBy = slot.SessionId,
            HeldRole = slot.Role,
            HeldPhase = slot.Phase,
            Profile = state.Profile,
        };
    }

    /// <summary>
    /// A call offered to this user as its callee or a rung member (to ring, or to be refused as busy) counts as unanswered
    /// from its caller until the user answers one (<see cref="Apply"/> clears the count). Limited when the caller already
    /// has <paramref name="maxPerDay"/> in the window: then the state is unchanged.
    /// </summary>
    public static (UserState Next, bool Limited) CountIncoming(UserState state, SlotRequest request, DateTimeOffset now, int maxPerDay)
    {
        if (!request.Offered)
        {
            return (state, false);
        }

        var caller = request.PeerId;
        var current = state.Unanswered.FirstOrDefault(t => t.CallerUid == caller && now - t.Since < TallyWindow);
        if (current?.Count >= maxPerDay)
        {
            return (state, true);
        }

        var others = state.Unanswered.Where(t => t.CallerUid != caller && now - t.Since < TallyWindow).OrderByDescending(t => t.Since).Take(MaxTallies - 1);
        var tally = current is null ? new CallerTally(caller, now, 1) : current with { Count = current.Count + 1 };
        return (state with { Unanswered = [.. others, tally] }, false);
    }

    /// <summary>One call from <paramref name="caller"/> taken off its tally (the one its reservation counted).</summary>
    private static ImmutableArray<CallerTally> Uncount(ImmutableArray<CallerTally> tallies, string caller) =>
        tallies.FirstOrDefault(t => t.CallerUid == caller) is not { } tally ? tallies
        : tally.Count <= 1 ? tallies.Remove(tally)
        : tallies.Replace(tally, tally with { Count = tally.Count - 1 });

    /// <summary>The slot a reservation takes; the caller's shows the call with the caller's own profile, which only the user knows.</summary>
    public static CallSlot Pending(UserState state, SlotRequest request) => new()
    {
        Call = request.Role == CallRole.Caller ? request.Call with { Initiator = state.Profile! } : request.Call,
        Role = request.Role,
        PeerId = request.PeerId,
        Phase = SlotPhase.Pending,
        ExpiresAt = request.ExpiresAt,
    };

    /// <summary>
    /// Whether <paramref name="update"/> was applied already: the slot or a release of its call shows its version. Both
    /// count while the slot holds the call again (a member who left and rejoins): an old release redelivered from a
    /// call read back from storage must not free the new slot.
    /// </summary>
    public static bool IsRepeat(UserState state, CallSlot? slot, SlotUpdate update)
    {
        if (update.Version == 0)
        {
            return false;
        }

        var sessionId = update.Call.SessionId;
        return (slot?.SessionId == sessionId && update.Version <= slot.Version)
            || state.Settled.Any(s => s.SessionId == sessionId && s.Version >= update.Version);
    }

    /// <summary>
    /// Applies an update that is not a repeat to the state whose (fresh) slot is <paramref name="slot"/>: the slot follows
    /// the call that holds it, a call that lets the user go is remembered, and an event takes the next seq. Returns
    /// <paramref name="state"/> itself when nothing changes.
    /// </summary>
    public static SlotChange Apply(string uid, UserState state, CallSlot? slot, SlotUpdate update)
    {
        var sessionId = update.Call.SessionId;
        var applied = new AppliedUpdate(sessionId, update.Version);
        var next = state;
        var mismatch = false;
        if (slot?.SessionId == sessionId)
        {
            if (slot is { Role: CallRole.Callee, Phase: not SlotPhase.Ongoing } && update.Phase == SlotPhase.Ongoing)
            {
                // The user answered this caller: their earlier calls were welcome after all.
                next = next with { Unanswered = next.Unanswered.RemoveAll(t => t.CallerUid == slot.PeerId) };
            }

            if (slot is { Role: CallRole.Callee, Phase: SlotPhase.Pending } && update.Phase == SlotPhase.Free)
            {
                // Reserved and let go before it rang (its caller turned out to be busy): never offered, so not counted.
                next = next with { Unanswered = Uncount(next.Unanswered, slot.PeerId) };
            }

            next = update.Phase == SlotPhase.Free
                ? next with { Slot = null, Settled = Remember(next.Settled, applied) }
                : next with { Slot = slot with { Call = update.Call, Phase = update.Phase, Version = Math.Max(slot.Version, update.Version) } };
        }
        else if (slot is null && update.Phase == SlotPhase.Ongoing)
        {
            // The slot went stale (the session was slow past the ring deadline); the user did join this call.
            next = next with { Slot = NewSlot(uid, update, SlotPhase.Ongoing) };
        }
        else
        {
            mismatch = update.Phase != SlotPhase.Free;
            if (update.Version > 0)
            {
                next = next with { Settled = Remember(next.Settled, applied) };
            }
        }

        GatewayDelivery? delivery = null;
        if (update.Event is { } evt)
        {
            var numbered = evt with { Seq = next.Seq + 1, Call = evt.Call ?? update.Call };
            delivery = new GatewayDelivery(uid, update.ExceptDeviceId, numbered);
            next = next with { Seq = numbered.Seq, LastEvent = new SentEvent(applied, delivery) };
        }

        return new SlotChange(next, delivery, mismatch);
    }

    /// <summary>The applied update last, without an older one of its call, the oldest dropped beyond <see cref="MaxSettled"/>: one array.</summary>
    public static ImmutableArray<AppliedUpdate> Remember(ImmutableArray<AppliedUpdate> settled, AppliedUpdate applied)
    {
        var others = 0;
        foreach (var s in settled)
        {
            others += s.SessionId == applied.SessionId ? 0 : 1;
        }

        var skip = Math.Max(0, others + 1 - MaxSettled);
        var kept = ImmutableArray.CreateBuilder<AppliedUpdate>(others - skip + 1);
        foreach (var s in settled)
        {
            if (s.SessionId != applied.SessionId && skip-- <= 0)
            {
                kept.Add(s);
            }
        }

        kept.Add(applied);
        return kept.MoveToImmutable();
    }

    /// <summary>
    /// What a device is shown: a callee's ringing call is ringing; a caller's call (pending or ringing) and any ongoing
    /// call are the active call; a callee's slot still pending shows nothing yet. Null for a user that does not exist.
    /// </summary>
    public static UserSnapshot? Snapshot(string uid, UserState state, CallSlot? slot)
    {
        if (state.Profile is null)
        {
            return null;
        }

        var ringing = slot is { Role: CallRole.Callee, Phase: SlotPhase.Ringing };
        var active = slot is not null && !ringing && (slot.Phase == SlotPhase.Ongoing || slot.Role == CallRole.Caller);
        return new UserSnapshot
        {
            Uid = uid,
            Name = state.Profile.Name,
            Seq = state.Seq,
            ActiveCall = active ? slot!.Call : null,
            Ringing = ringing ? [slot!.Call] : [],
            Devices = state.Devices,
        };
    }

    private static CallSlot NewSlot(string uid, SlotUpdate update, SlotPhase phase) => new()
    {
        Call = update.Call,
        Role = update.Call.Initiator.Uid == uid ? CallRole.Caller : CallRole.Callee,
        PeerId = update.Call.Initiator.Uid == uid ? update.Call.ReceiverId : update.Call.Initiator.Uid,
        Phase = phase,
        Version = update.Version,
    };
}
