using System.Net.WebSockets;
using CallGrains.Abstractions;
using CallGrains.Gateway.Auth;

namespace CallGrains.Gateway.Sockets;

/// <summary>
/// One device's socket. Everything sent to it goes through one queue drained by one sender at a time, so sends never
/// overlap and a slow client cannot make the server buffer without bound: past <c>Gateway:SendQueueLimit</c> messages
/// or <c>Gateway:SendQueueBytesLimit</c> bytes it is disconnected (1008) and what it was owed is dropped. An idle
/// socket holds neither the queue nor a sender: both exist only while something is on its way (docs/benchmarks.md,
/// memory per idle socket).
/// </summary>
public sealed class Connection
{
    private static readonly TimeSpan CloseTimeout = TimeSpan.FromSeconds(5);

    /// <summary>How long a peer has to answer the server's close frame with its own before the socket is aborted.</summary>
    public static readonly TimeSpan CloseHandshakeTimeout = TimeSpan.FromSeconds(10);

    private readonly WebSocket _socket;
    private readonly Lock _sync = new();
    private readonly TokenBucket _rate;
    private readonly int _countLimit;
    private readonly long _bytesLimit;
    private readonly TimeSpan _overflowCloseTimeout;
    private readonly TimeProvider _time;
    private readonly CancellationToken _aborted;
    private readonly TaskCompletionSource _receiveEnded = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Queue<Outgoing>? _pending;
    private Task _sender = Task.CompletedTask;
    private bool _sending;
    private long _seq;
    private long _queuedBytes;
    private int _closing;
    private volatile bool _abandoned;

    /// <param name="aborted">Ends a send the peer does not take when the connection goes (the request's abort token).</param>
    public Connection(AuthClaims claims, string deviceId, WebSocket socket, GatewayOptions options, TimeProvider time, CancellationToken aborted)
    {
        Uid = claims.Uid;
        DeviceId = deviceId;
        TokenGeneration = claims.Generation;
        TokenExpiresAt = claims.ExpiresAt;
        _socket = socket;
        _countLimit = options.SendQueueLimit;
        _bytesLimit = options.SendQueueBytesLimit;
        _overflowCloseTimeout = TimeSpan.FromSeconds(options.IdleTimeoutSeconds);
        _time = time;
        _aborted = aborted;
        _rate = new TokenBucket(options.MessageBurst, options.MessagesPerSecond, time);
    }

    public string Uid { get; }

    public string DeviceId { get; }

    public long TokenGeneration { get; }

    /// <summary>The epoch of this socket's registration with the user grain; its unregistration names it.</summary>
    public long Epoch { get; init; }

    /// <summary>When the auth token this socket was opened with expires: the gateway sweep closes it then (4001).</summary>
    public DateTimeOffset TokenExpiresAt { get; }

    /// <summary>Set when a newer connection of the same device took over: this one must not unregister the device.</summary>
    public bool Replaced { get; set; }

    /// <summary>The highest seq this device has been told, for responses that change nothing.</summary>
    public long Seq => Interlocked.Read(ref _seq);

    public void SawSeq(long seq)
    {
        var current = Interlocked.Read(ref _seq);
        while (seq > current)
        {
            var previous = Interlocked.CompareExchange(ref _seq, seq, current);
            if (previous == current)
            {
                return;
            }

            current = previous;
        }
    }

    public bool TryTakeToken() => _rate.TryTake();

    /// <summary>Queues a text message; a client too far behind is closed instead (1008).</summary>
    public void Send(byte[] message)
    {
        if (Interlocked.Add(ref _queuedBytes, message.Length) > _bytesLimit || !TryQueue(new Outgoing(message, null, null)))
        {
            Abandon(CloseCodes.TooFarBehind, "too far behind: messages were not read");
        }
    }

    /// <summary>Queues a close after whatever is already queued; later sends are dropped.</summary>
    public void Close(WebSocketCloseStatus status, string reason)
    {
        if (Interlocked.Exchange(ref _closing, 1) == 0 && !TryQueue(new Outgoing(null, status, reason), closing: true))
        {
            // A full queue still gets its close: the writer gives up on the backlog.
            _abandoned = true;
            _ = CloseNowAsync(status, reason, CloseTimeout);
        }
    }

    /// <summary>
    /// Closes at once, dropping the backlog: for a client that stopped reading. The close frame follows the message
    /// being written, if any; the peer has as long to take it as it has to answer a ping, then the socket is aborted.
    /// </summary>
    private void Abandon(WebSocketCloseStatus status, string reason)
    {
        if (Interlocked.Exchange(ref _closing, 1) == 0)
        {
            _abandoned = true;
            lock (_sync)
            {
                _pending = null;
            }

            _ = CloseNowAsync(status, reason, _overflowCloseTimeout);
        }
    }

    /// <summary>
    /// Puts an item behind the others, starting a sender if none runs. False when the queue is full, or (for a
    /// message) once the connection is closing: nothing is queued after the close.
    /// </summary>
    private bool TryQueue(Outgoing item, bool closing = false)
    {
        lock (_sync)
        {
            if (_abandoned || (!closing && IsClosing))
            {
                return false;
            }

            _pending ??= new Queue<Outgoing>(2);
            if (_pending.Count >= _countLimit)
            {
                return false;
            }

            _pending.Enqueue(item);
            if (_sending)
            {
                return true;
            }

            _sending = true;
            _sender = Task.Run(DrainAsync, CancellationToken.None);
            return true;
        }
    }

    /// <summary>The next queued item, or none: then the sender ends, and the idle socket gives its queue back.</summary>
    private bool TryNext(out Outgoing item)
    {
        lock (_sync)
        {
            if (!_abandoned && _pending is { Count: > 0 } pending)
            {
                item = pending.Dequeue();
                return true;
            }

            _pending = null;
            _sending = false;
            item = default;
            return false;
        }
    }

    public bool IsClosing => Volatile.Read(ref _closing) == 1;

    /// <summary>The receive loop has ended: the peer's close came (or the socket broke), so a close we sent is answered.</summary>
    public void ReceiveEnded() => _receiveEnded.TrySetResult();

    /// <summary>Completes when whatever was queued so far has been written (or given up on).</summary>
    public Task SendsDone
    {
        get
        {
            lock (_sync)
            {
                return _sender;
            }
        }
    }

    /// <summary>Writes the queue to the socket, one item at a time, until it is empty or the close is sent.</summary>
    private async Task DrainAsync()
    {
        try
        {
            while (TryNext(out var item))
            {
                if (item.Message is { } message)
                {
                    await _socket.SendAsync(message, WebSocketMessageType.Text, endOfMessage: true, _aborted);
                    Interlocked.Add(ref _queuedBytes, -message.Length);
                }
                else
                {
                    await CloseNowAsync(item.Status!.Value, item.Reason!, CloseTimeout);
                }
            }
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException or ObjectDisposedException)
        {
            // The peer is gone; the receive loop sees it too and cleans up. Nothing more is sent.
            lock (_sync)
            {
                _abandoned = true;
                _pending = null;
                _sending = false;
            }
        }
    }

    private async Task CloseNowAsync(WebSocketCloseStatus status, string reason, TimeSpan timeout)
    {
        try
        {
            if (_socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
            {
                using var limit = new CancellationTokenSource(timeout);
                await _socket.CloseOutputAsync(status, reason, limit.Token);
            }

            // A peer that took the close frame but never answers it (it stopped reading, or ignores closes) would
            // keep the socket, and the receive loop waiting on it, until the keep-alive gave up on it.
            await _receiveEnded.Task.WaitAsync(CloseHandshakeTimeout, _time);
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException or ObjectDisposedException or TimeoutException)
        {
            // The peer would not take the close frame, or answer it, in time (or is gone): drop the connection, which
            // also ends a send stuck behind a peer that does not read, and the receive waiting for its close.
            _socket.Abort();
        }
    }

    private readonly record struct Outgoing(byte[]? Message, WebSocketCloseStatus? Status, string? Reason);
}
