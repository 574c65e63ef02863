using CallGrains.Grains;

namespace CallGrains.Host;

public static class SiloConfiguration
{
    /// <summary>
    /// The embedded default: one silo, everything in memory, nothing to install. The Redis production setup comes
    /// with the production-cluster work and is chosen by configuration, not code changes.
    /// </summary>
    public static ISiloBuilder AddCallGrainsSilo(this ISiloBuilder silo, IConfiguration configuration)
    {
        silo.UseLocalhostClustering();
        silo.AddMemoryGrainStorage(StorageNames.Default);
        silo.AddMemoryGrainStorage("PubSubStore");
        silo.UseInMemoryReminderService();
        silo.AddCallGrains();

        // One in-memory silo: a reminder cannot outlive the silo it would protect, and the in-memory reminder
        // table is a single grain every call would go through. The grain timer alone times calls out here.
        silo.Services.PostConfigure<CallOptions>(o => o.ReminderBackstop = configuration.GetValue("Calls:ReminderBackstop", false));
        return silo;
    }
}
