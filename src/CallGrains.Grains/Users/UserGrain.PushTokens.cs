using System.Collections.Immutable;
using CallGrains.Abstractions;

namespace CallGrains.Grains.Users;

/// <summary>
/// Push tokens (PROTOCOL section 10): at most one per device and platform, at most <c>Push:MaxTokensPerUser</c> per
/// user. Each token is claimed in its <see cref="IPushTokenGrain"/> before it is stored and released when it goes, so a
/// token held here is one the index gave to this user, and a claim by another user always finds whom to take it from.
/// This grain calls the index and nothing else here; the index calls no grain (no cycle).
/// </summary>
public sealed partial class UserGrain
{
    public async Task<PushTokenRegistration> SetPushToken(string deviceId, PushPlatform platform, string token)
    {
        if (!Exists())
        {
            return new PushTokenRegistration(null, new CallError(CallErrorCode.UidNotFound, $"user {Uid} does not exist"), null);
        }

        var entry = new PushToken(deviceId, platform, token, time.GetUtcNow()) { Claim = Guid.NewGuid() };
        var previous = await TokenIndex(entry).Claim(new PushTokenOwner(Uid, deviceId, entry.Claim));

        // The device's old token for this platform goes, so does this token on another device of this user (a phone
        // whose app changed its device id); past the cap, the least recently registered (the list is oldest first).
        var next = State.PushTokens
            .RemoveAll(t => (t.DeviceId == deviceId && t.Platform == platform) || (previous?.Uid == Uid && t.Claim == previous.Claim))
            .Add(entry);
        var over = next.Length - pushOptions.Value.MaxTokensPerUser;
        if (over > 0)
        {
            next = next.RemoveRange(0, over);
        }

        await SetPushTokensAsync(next);
        return new PushTokenRegistration(entry, null, previous is { } from && from.Uid != Uid ? from : null);
    }

    public Task<ImmutableArray<PushToken>?> GetPushTokens() =>
        Task.FromResult<ImmutableArray<PushToken>?>(Exists() ? [.. State.PushTokens.Reverse()] : null);

    public async Task<bool> RemoveDevicePushTokens(string deviceId)
    {
        if (!Exists())
        {
            return false;
        }

        await SetPushTokensAsync(State.PushTokens.RemoveAll(t => t.DeviceId == deviceId));
        return true;
    }

    public async Task<bool> RemovePushToken(string deviceId, PushPlatform platform, string token)
    {
        var before = State.PushTokens.Length;
        await SetPushTokensAsync(State.PushTokens.RemoveAll(t => t.DeviceId == deviceId && t.Platform == platform && t.Token == token));
        return State.PushTokens.Length != before;
    }

    public Task PushTokenMoved(string deviceId, PushPlatform platform, Guid claim) =>
        SetPushTokensAsync(State.PushTokens.RemoveAll(t => t.DeviceId == deviceId && t.Platform == platform && t.Claim == claim), release: false);

    public async Task<ImmutableArray<PushToken>> RingPushTargets(string sessionId, string? deviceId)
    {
        if (!Ringing(sessionId))
        {
            return [];
        }

        await PruneDeadGatewaysAsync();
        var targets = CallTokens(State.PushTokens.Where(t => !State.Devices.Any(d => d.DeviceId == t.DeviceId) && (deviceId is null || t.DeviceId == deviceId)));
        if (!targets.IsEmpty)
        {
            // Stored before anything is sent: a cancel later goes to exactly these devices (and those pushed before for
            // this ring), also after a restart, and a user whose ring was never meant to be pushed gets no cancel (on iOS
            // every VoIP push must be reported as a call).
            var now = time.GetUtcNow();
            var earlier = State.RingsPushed.FirstOrDefault(r => r.SessionId == sessionId)?.DeviceIds ?? [];
            var kept = State.RingsPushed.RemoveAll(r => r.SessionId == sessionId || now - r.At > RingPush.KeptFor)
                .Add(new RingPush(sessionId, [.. earlier.Union(targets.Select(t => t.DeviceId))], now));
            state.State = State with { RingsPushed = kept.Length > RingPush.MaxKept ? kept.RemoveRange(0, kept.Length - RingPush.MaxKept) : kept };
            await SaveAsync();
        }

        return targets;
    }

    public Task<bool> StillRinging(string sessionId) => Task.FromResult(Ringing(sessionId));

    /// <summary>
    /// Devices that just lost their socket while this user is rung: each one with a push token that the ring was not
    /// pushed to yet gets it now (one-way to the call: a user grain never awaits a session).
    /// </summary>
    private void PushRingToDevicesGone(ImmutableArray<DeviceInfo> before)
    {
        if (State.Slot is not { Role: CallRole.Callee, Phase: SlotPhase.Ringing } slot || State.PushTokens.IsEmpty)
        {
            return;
        }

        var pushed = State.RingsPushed.FirstOrDefault(r => r.SessionId == slot.SessionId)?.DeviceIds ?? [];
        foreach (var gone in before.Select(d => d.DeviceId).Distinct().Where(id => !State.Devices.Any(d => d.DeviceId == id) && !pushed.Contains(id)))
        {
            if (State.PushTokens.Any(t => t.DeviceId == gone))
            {
                GrainFactory.Ref<ICallSessionGrain>(slot.SessionId).RingByPush(Uid, gone).Ignore();
            }
        }
    }

    public Task<ImmutableArray<PushToken>> CancelPushTargets(string sessionId, string? exceptDeviceId) =>
        Task.FromResult<ImmutableArray<PushToken>>(
            Exists() && State.RingsPushed.FirstOrDefault(r => r.SessionId == sessionId) is { } pushed
                // Kept, not cleared: a cancel sent again (a crash while it was on its way) goes to the same devices.
                ? CallTokens(State.PushTokens.Where(t => pushed.DeviceIds.Contains(t.DeviceId) && t.DeviceId != exceptDeviceId))
                : []);

    public Task<ImmutableArray<PushToken>> MissedPushTargets() =>
        Task.FromResult<ImmutableArray<PushToken>>(Exists() ? [.. State.PushTokens.Where(t => t.Platform != PushPlatform.ApnsVoip)] : []);

    private bool Ringing(string sessionId) => Exists() && State.Slot is { Phase: SlotPhase.Ringing } slot && slot.SessionId == sessionId;

    /// <summary>The tokens a call's ring and cancel go to: a device with a PushKit token rings through it alone (CallKit), others through each token.</summary>
    private static ImmutableArray<PushToken> CallTokens(IEnumerable<PushToken> tokens) =>
        [.. tokens.GroupBy(t => t.DeviceId).SelectMany(d => d.Any(t => t.Platform == PushPlatform.ApnsVoip) ? d.Where(t => t.Platform == PushPlatform.ApnsVoip) : d)];

    /// <summary>
    /// Stores a new token list if it changed, then releases the index entries of the tokens that left it (a release
    /// of a claim the index no longer holds, such as this user's own earlier claim of a re-registered token, is a no-op).
    /// </summary>
    private async Task SetPushTokensAsync(ImmutableArray<PushToken> tokens, bool release = true)
    {
        var gone = State.PushTokens.RemoveAll(tokens.Contains);
        if (gone.IsEmpty && tokens.Length == State.PushTokens.Length)
        {
            return;
        }

        state.State = State with { PushTokens = tokens };
        await SaveAsync();
        if (release)
        {
            await Task.WhenAll(gone.Select(t => TokenIndex(t).Release(new PushTokenOwner(Uid, t.DeviceId, t.Claim))));
        }
    }

    private IPushTokenGrain TokenIndex(PushToken token) => GrainFactory.Ref<IPushTokenGrain>(PushTokens.IndexKey(token.Platform, token.Token));
}
