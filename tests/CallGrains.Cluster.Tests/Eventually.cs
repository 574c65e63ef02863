namespace CallGrains.Cluster.Tests;

/// <summary>Waits for what a cluster of real processes does in its own time, with a generous, bounded deadline.</summary>
internal static class Eventually
{
    public static async Task Async(Func<Task<bool>> condition, string what, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            try
            {
                if (await condition())
                {
                    return;
                }
            }
            catch (Exception ex) when (ex is TimeoutException or HttpRequestException)
            {
                // A host still starting or joining: asked again.
            }

            Assert.True(DateTime.UtcNow < deadline, $"timed out waiting for: {what}");
            await Task.Delay(250);
        }
    }
}
