namespace CallGrains.Client.Tests;

/// <summary>Every event a client raises, in order, as an app's handlers would see them; waits for the ones a test expects.</summary>
public sealed class Recorder
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);

    private readonly List<(string Name, EventArgs Args)> _events = [];
    private readonly string _who;

    public Recorder(CallGrainsClient client, string? who = null)
    {
        _who = who ?? client.Uid;
        client.IncomingCallReceived += (_, e) => Add("incomingCallReceived", e);
        client.OutgoingCallAccepted += (_, e) => Add("outgoingCallAccepted", e);
        client.OutgoingCallRejected += (_, e) => Add("outgoingCallRejected", e);
        client.IncomingCallCanceled += (_, e) => Add("incomingCallCanceled", e);
        client.CallEndedMessageReceived += (_, e) => Add("callEndedMessageReceived", e);
        client.UserJoined += (_, e) => Add("userJoined", e);
        client.UserLeft += (_, e) => Add("userLeft", e);
        client.SignalReceived += (_, e) => Add("signal", e);
        client.ConnectionStateChanged += (_, e) => Add($"connection:{e.State}", e);
    }

    public IReadOnlyList<string> Names
    {
        get
        {
            lock (_events)
            {
                return [.. _events.Select(e => e.Name)];
            }
        }
    }

    /// <summary>The call events only (no connection changes), by name.</summary>
    public IReadOnlyList<string> CallEvents => [.. Names.Where(n => !n.StartsWith("connection:", StringComparison.Ordinal))];

    /// <summary>Waits (at most 30 s) for the first event of <paramref name="name"/> that matches, and returns it.</summary>
    public async Task<T> WaitAsync<T>(string name, Func<T, bool>? match = null)
        where T : EventArgs
    {
        var deadline = DateTime.UtcNow + Wait;
        while (true)
        {
            lock (_events)
            {
                foreach (var (n, args) in _events)
                {
                    if (n == name && args is T typed && (match is null || match(typed)))
                    {
                        return typed;
                    }
                }
            }

            Assert.True(DateTime.UtcNow < deadline, $"{_who}: waited for {name}; have {string.Join(", ", Names)}");
            await Task.Delay(20);
        }
    }

    public Task<CallEventArgs> WaitAsync(string name, string sessionId) => WaitAsync<CallEventArgs>(name, e => e.Call.SessionId == sessionId);

    /// <summary>Asserts that the call events seen are exactly <paramref name="expected"/>, after a short while for strays to arrive.</summary>
    public async Task ExactlyAsync(params string[] expected)
    {
        await Task.Delay(500);
        Assert.Equal(expected, CallEvents);
    }

    private void Add(string name, EventArgs args)
    {
        lock (_events)
        {
            _events.Add((name, args));
        }
    }
}
