namespace CallGrains.Abstractions;

/// <summary>
/// Who holds one push token: keyed by <see cref="PushTokens.IndexKey"/> (platform and the token's SHA-256). Claims of
/// one token are serialised here, so that two users registering it at once end with one holder. A leaf: it calls no
/// grain; user grains call it (claim on register, release on removal), never the other way round. Its state goes when
/// the token's holder lets it go.
/// </summary>
[Alias("cg.IPushTokenGrain")]
public interface IPushTokenGrain : IGrainWithStringKey
{
    /// <summary>Makes <paramref name="owner"/> the holder; returns the one before, if any.</summary>
    [Alias("Claim")]
    Task<PushTokenOwner?> Claim(PushTokenOwner owner);

    /// <summary>Forgets the holder if it is still <paramref name="owner"/> (the same claim); a later claim stays.</summary>
    [Alias("Release")]
    Task Release(PushTokenOwner owner);

    [Alias("GetOwner")]
    Task<PushTokenOwner?> GetOwner();
}
