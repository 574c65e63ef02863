using System.Collections.Concurrent;
using Orleans.Storage;

namespace CallGrains.Tests;

/// <summary>Grain storage in memory whose writes fail for chosen grains until healed; it can count what it holds.</summary>
internal sealed class FlakyStorage : IGrainStorage
{
    private readonly ConcurrentDictionary<GrainId, (object State, string ETag)> _store = new();
    private readonly ConcurrentDictionary<string, bool> _failing = new();

    public void Fail(string key) => _failing[key] = true;

    public void Heal(string key) => _failing.TryRemove(key, out _);

    /// <summary>How many grains of a type (<c>callsession</c>, <c>user</c>) have a stored record.</summary>
    public int Count(string grainType) => _store.Keys.Count(id => id.Type.ToString() == grainType);

    public bool Holds(GrainId id) => _store.ContainsKey(id);

    public Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        if (_store.TryGetValue(grainId, out var stored))
        {
            grainState.State = (T)stored.State;
            grainState.ETag = stored.ETag;
            grainState.RecordExists = true;
        }

        return Task.CompletedTask;
    }

    public Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        if (_failing.ContainsKey(grainId.Key.ToString()!))
        {
            throw new IOException($"store unreachable for {grainId}");
        }

        // State records are immutable: keeping the reference is a snapshot.
        var etag = Guid.NewGuid().ToString("N");
        _store[grainId] = (grainState.State!, etag);
        grainState.ETag = etag;
        grainState.RecordExists = true;
        return Task.CompletedTask;
    }

    public Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        _store.TryRemove(grainId, out _);
        grainState.RecordExists = false;
        return Task.CompletedTask;
    }
}
