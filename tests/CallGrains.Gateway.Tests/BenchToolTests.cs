using CallGrains.Bench;

namespace CallGrains.Gateway.Tests;

/// <summary>The load tool measures what it claims: real cycles against a real gateway, and what it reads off the wire.</summary>
[Collection(TwoNodeGroup.Name)]
public sealed class BenchToolTests(TwoNodeFixture cluster)
{
    [Fact]
    public async Task A_short_paced_run_completes_full_cycles_across_two_gateways_without_failures()
    {
        var result = await Cycles.RunAsync([cluster.A.BaseUri, cluster.B.BaseUri], GatewayNode.AdminKey, pairs: 4, rate: 40, seconds: 2, warmup: 1, tag: "t");

        Assert.Equal(0, result.Failures);
        // 40 cycles/s for 2 measured seconds.
        Assert.InRange(result.Cycles, 60, 100);
        Assert.True(result.P50 > 0 && result.P50 <= result.P99 && result.P99 <= result.Max);
    }

    [Fact]
    public void The_message_reader_finds_event_id_status_and_session()
    {
        var evt = Message.Parse("""{"event":"incomingCallReceived","seq":3,"call":{"sessionId":"s1","initiator":{"uid":"a","name":"A"},"participants":[{"uid":"a"}],"metadata":{"sessionId":"decoy"}}}"""u8, 7);
        var error = Message.Parse("""{"id":"9","ok":false,"error":{"code":"ERR_CALL_BUSY","message":"m"},"call":{"sessionId":"s2"},"seq":0}"""u8, 0);

        Assert.Equal(("incomingCallReceived", "s1", 7L), (evt.Event, evt.SessionId, evt.Ticks));
        Assert.Equal(("9", false, "ERR_CALL_BUSY", "s2"), (error.Id, error.Ok, error.ErrorCode, error.SessionId));
    }
}
