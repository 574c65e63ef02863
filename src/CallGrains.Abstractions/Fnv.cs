namespace CallGrains.Abstractions;

/// <summary>A string hash that is the same in every process (string hash codes are randomized per process).</summary>
public static class Fnv
{
    /// <summary>FNV-1a over the string's UTF-16 code units; never negative.</summary>
    public static int Hash(string value)
    {
        var hash = 2166136261u;
        foreach (var c in value)
        {
            hash = (hash ^ c) * 16777619u;
        }

        return (int)(hash & int.MaxValue);
    }
}
