namespace CallGrains.Grains.Storage;

public static class StorageNames
{
    public const string Default = "Default";

    /// <summary>Where Orleans keeps stream subscriptions.</summary>
    public const string PubSub = "PubSubStore";

    /// <summary>Every store a CallGrains silo has.</summary>
    public static readonly IReadOnlyList<string> All = [Default, PubSub];
}
