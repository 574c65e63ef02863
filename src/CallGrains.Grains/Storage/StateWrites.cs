namespace CallGrains.Grains.Storage;

/// <summary>How a grain stores a change so that memory never runs ahead of storage.</summary>
internal static class StateWrites
{
    /// <summary>
    /// Stores <paramref name="next"/>. A write that fails is not a change made: memory goes back to what storage still
    /// has, the activation goes (the next request reads storage again), and the caller gets the error.
    /// </summary>
    public static async Task WriteOrForgetAsync<T>(this IPersistentState<T> state, T next, IGrainBase grain)
    {
        var previous = state.State;
        state.State = next;
        try
        {
            await state.WriteStateAsync();
        }
        catch
        {
            state.State = previous;
            grain.DeactivateOnIdle();
            throw;
        }
    }
}
