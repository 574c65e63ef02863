namespace CallGrains.Grains.Deadlines;

/// <summary>The embedded default: grains live and die with the one silo, so their grain timers are enough.</summary>
public sealed class NoDeadlines : IRingDeadlines, IGraceDeadlines
{
    public bool Durable => false;

    public bool WrittenWithState => false;

    public Task AddAsync(string id, DateTimeOffset due) => Task.CompletedTask;

    public void Schedule(string id, DateTimeOffset due)
    {
    }

    public void Remove(string id)
    {
    }

    public Task<IReadOnlyList<string>> ClaimDueAsync(DateTimeOffset before, int max, DateTimeOffset retryAt) => Task.FromResult<IReadOnlyList<string>>([]);

    public Task<IReadOnlyList<string>> ListAsync(int max) => Task.FromResult<IReadOnlyList<string>>([]);
}
