namespace CallGrains.Grains.History;

/// <summary>
/// A settled call as the embedded default's history keeps it: its final record serialized once, into one byte array
/// that the record shard and every party's history share. A struct, and the record a flat array, so what the history
/// keeps of a call is one object the collector never has to trace into, not the call's object graph (docs/benchmarks.md,
/// "Issue 22, session 23").
/// </summary>
[GenerateSerializer, Immutable, Alias("cg.ArchivedCall")]
public readonly record struct ArchivedCall(
    [property: Id(0)] string SessionId,
    [property: Id(1)] long At,
    [property: Id(2)] byte[] Record);
