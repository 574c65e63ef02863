using System.Diagnostics;
using System.Globalization;
using CallGrains.Abstractions;
using CallGrains.Grains;
using CallGrains.Host.Redis;
using CallGrains.LocalCluster;
using HdrHistogram;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Configuration;
using Orleans.Serialization;
using StackExchange.Redis;

namespace CallGrains.Bench;

/// <summary>
/// What a page of call history costs as the history grows (docs/benchmarks.md, "A page of history"): users with 10,
/// 1,000 and 100,000 entries in the Redis store, a real redis-server, and the same page queries for each.
/// </summary>
internal static class LogPages
{
    private const int Queries = 300;

    public static async Task<int> RunAsync(Options options)
    {
        int[] sizes = [.. options.Get("sizes", "10,1000,100000").Split(',').Select(v => int.Parse(v, CultureInfo.InvariantCulture))];
        await using var redis = await RedisProcess.StartAsync();
        await using var services = new ServiceCollection().AddSerializer(b => b.AddAssembly(typeof(CallInfo).Assembly)).BuildServiceProvider();
        await using var log = new RedisCallLog(
            ConfigurationOptions.Parse(redis.ConnectionString),
            Microsoft.Extensions.Options.Options.Create(new ClusterOptions { ServiceId = "bench" }),
            Microsoft.Extensions.Options.Options.Create(new CallOptions { LogRetention = TimeSpan.FromDays(1), MaxLogEntriesPerUser = sizes.Max() }),
            services.GetRequiredService<Serializer>(),
            TimeProvider.System);
        Console.WriteLine($"redis-server pid {redis.Pid}; one user per size, each call settled and appended as the server does");
        Console.WriteLine();
        Console.WriteLine("| entries | first page (30) p50 / p99 ms | page 50 (30) p50 / p99 ms | missed=true (30) p50 / p99 ms | direction=outgoing&status=busy p50 / p99 ms |");
        Console.WriteLine("|---|---|---|---|---|");
        foreach (var size in sizes)
        {
            var uid = $"u{size}";
            await FillAsync(log, uid, size);
            var deep = await CursorAtAsync(log, uid, pages: 50);
            var first = await TimeAsync(() => log.QueryAsync(uid, new CallLogQuery()));
            var later = await TimeAsync(() => log.QueryAsync(uid, new CallLogQuery { After = deep }));
            var missed = await TimeAsync(() => log.QueryAsync(uid, new CallLogQuery { Missed = true }));
            var rare = await TimeAsync(() => log.QueryAsync(uid, new CallLogQuery { Direction = CallDirection.Outgoing, Status = CallStatus.Busy }));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {size:N0} | {first} | {later} | {missed} | {rare} |"));
        }

        return 0;
    }

    /// <summary>Appends <paramref name="count"/> settled calls to the user's history: a tenth missed, one in 500 an outgoing busy attempt.</summary>
    private static async Task FillAsync(RedisCallLog log, string uid, int count)
    {
        var start = DateTimeOffset.UtcNow.AddHours(-1);
        var progress = Stopwatch.StartNew();
        for (var done = 0; done < count;)
        {
            var batch = Math.Min(200, count - done);
            await Task.WhenAll(Enumerable.Range(done, batch).Select(i => log.AppendAsync(Call(uid, i, start))));
            done += batch;
            if (progress.Elapsed > TimeSpan.FromSeconds(5))
            {
                Console.Error.WriteLine($"  {uid}: {done:N0} of {count:N0} entries");
                progress.Restart();
            }
        }
    }

    private static CallInfo Call(string uid, int i, DateTimeOffset start)
    {
        var at = start.AddMilliseconds(i * 10);
        var incoming = i % 2 == 0;
        var status = i % 500 == 1 ? CallStatus.Busy : i % 10 == 0 ? CallStatus.Unanswered : CallStatus.Ended;
        var peer = $"p{i % 50}-{uid}";
        return new CallInfo
        {
            SessionId = $"{uid}-{i:D7}",
            CallType = CallType.Audio,
            ReceiverType = ReceiverType.User,
            ReceiverId = incoming ? uid : peer,
            Initiator = incoming ? new UserRef(peer, peer) : new UserRef(uid, uid),
            Status = status,
            InitiatedAt = at,
            JoinedAt = status == CallStatus.Ended ? at : null,
            EndedAt = at.AddSeconds(30),
            Participants = status == CallStatus.Ended ? [new Participant(uid, at, at.AddSeconds(30)), new Participant(peer, at, at.AddSeconds(30))] : [],
        };
    }

    private static async Task<CallLogPosition?> CursorAtAsync(RedisCallLog log, string uid, int pages)
    {
        CallLogPosition? after = null;
        for (var page = 0; page < pages; page++)
        {
            var result = await log.QueryAsync(uid, new CallLogQuery { After = after });
            if (result.Next is null)
            {
                break;
            }

            after = result.Next;
        }

        return after;
    }

    private static async Task<string> TimeAsync(Func<Task<CallLogPage>> query)
    {
        var histogram = new LongHistogram(TimeStamp.Seconds(10), 3);
        for (var i = 0; i < 20; i++)
        {
            await query();
        }

        for (var i = 0; i < Queries; i++)
        {
            var started = Stopwatch.GetTimestamp();
            await query();
            histogram.RecordValue(Stopwatch.GetTimestamp() - started);
        }

        double Ms(double percentile) => histogram.GetValueAtPercentile(percentile) * 1000.0 / Stopwatch.Frequency;
        return string.Create(CultureInfo.InvariantCulture, $"{Ms(50):F2} / {Ms(99):F2}");
    }
}
