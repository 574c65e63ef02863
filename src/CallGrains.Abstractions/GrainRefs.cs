namespace CallGrains.Abstractions;

/// <summary>
/// Grain references without the reflection of <see cref="IGrainFactory"/>'s <c>GetGrain</c>, which reads the
/// interface's attributes on every call (a tenth of a silo's CPU when a call rings 100 members): the grain type and
/// interface type are resolved by the first call for an interface and reused for every key after it.
/// </summary>
public static class GrainRefs
{
    public static T Ref<T>(this IGrainFactory grains, string key)
        where T : IGrainWithStringKey
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(key);
        return Types<T>.Resolved is { } types
            ? (T)grains.GetGrain(GrainId.Create(types.Grain, key), types.Interface)
            : Types<T>.Remember(grains.GetGrain<T>(key));
    }

    public static T Ref<T>(this IGrainFactory grains, long key)
        where T : IGrainWithIntegerKey =>
        Types<T>.Resolved is { } types
            ? (T)grains.GetGrain(GrainId.Create(types.Grain, GrainIdKeyExtensions.CreateIntegerKey(key)), types.Interface)
            : Types<T>.Remember(grains.GetGrain<T>(key));

    private sealed record ResolvedTypes(GrainType Grain, GrainInterfaceType Interface);

    private static class Types<T>
    {
        public static ResolvedTypes? Resolved { get; private set; }

        public static T Remember(T grain)
        {
            var reference = (GrainReference)(object)grain!;
            Resolved = new ResolvedTypes(reference.GrainId.Type, reference.InterfaceType);
            return grain;
        }
    }
}
