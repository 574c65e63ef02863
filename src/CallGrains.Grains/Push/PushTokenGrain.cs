using CallGrains.Abstractions;
using CallGrains.Grains.Storage;

namespace CallGrains.Grains.Push;

[GenerateSerializer, Immutable, Alias("cg.PushTokenState")]
public sealed record PushTokenState
{
    [Id(0)] public PushTokenOwner? Owner { get; init; }
}

/// <summary>
/// The token → holder index (<see cref="IPushTokenGrain"/>): one activation per token serialises its claims. It calls
/// no grain, so user grains may await it. Nothing stays once the holder releases the token.
/// </summary>
public sealed class PushTokenGrain(
    [PersistentState("pushToken", StorageNames.Default)] IPersistentState<PushTokenState> state) : Grain, IPushTokenGrain
{
    public async Task<PushTokenOwner?> Claim(PushTokenOwner owner)
    {
        var previous = state.State.Owner;
        state.State = new PushTokenState { Owner = owner };
        await SaveAsync(state.WriteStateAsync);
        return previous;
    }

    public async Task Release(PushTokenOwner owner)
    {
        if (state.State.Owner == owner)
        {
            await SaveAsync(state.ClearStateAsync);
            state.State = new PushTokenState();
        }

        if (state.State.Owner is null)
        {
            this.DeactivateOnIdle();
        }
    }

    public Task<PushTokenOwner?> GetOwner() => Task.FromResult(state.State.Owner);

    // A failed write leaves memory ahead of the store: forget both, the next call reloads what is stored.
    private async Task SaveAsync(Func<Task> write)
    {
        try
        {
            await write();
        }
        catch
        {
            this.DeactivateOnIdle();
            throw;
        }
    }
}
