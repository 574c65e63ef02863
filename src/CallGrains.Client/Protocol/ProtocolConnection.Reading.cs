using System.Buffers;
using System.Net.WebSockets;
using System.Text.Json;

namespace CallGrains.Client.Protocol;

/// <summary>Reading: one reader per connection matches responses, keeps the log, wakes waiters, in arrival order.</summary>
public sealed partial class ProtocolConnection
{
    private readonly List<ProtocolMessage> _log = [];
    private readonly List<Waiter> _waiters = [];
    private ArrayBufferWriter<byte>? _buffer;
    private Action<ProtocolMessage>? _onMessage;
    private volatile TaskCompletionSource _reading = Resumed();
    private bool _closed;

    /// <summary>The background reader, once started; completes when the socket closes (by either side, or broken).</summary>
    public Task Completion { get; private set; } = Task.CompletedTask;

    /// <summary>When the reader saw the socket close, or null while it is open (or not read).</summary>
    public DateTimeOffset? ClosedAt { get; private set; }

    /// <summary>Every message read so far, in arrival order, when <see cref="ProtocolConnectionOptions.KeepLog"/> is set; empty otherwise.</summary>
    public IReadOnlyList<ProtocolMessage> Received
    {
        get
        {
            lock (_log)
            {
                return [.. _log];
            }
        }
    }

    /// <summary>
    /// Starts reading in the background. Each message, in arrival order: its request (if one sent here waits for it)
    /// is found, it is added to <see cref="Received"/> (with <see cref="ProtocolConnectionOptions.KeepLog"/>), handed
    /// to <paramref name="onMessage"/>, then given to its request and to the waits it matches.
    /// </summary>
    /// <param name="onMessage">Called on the reader for every message, before any waiter sees it; it must not block or throw.</param>
    /// <exception cref="InvalidOperationException">Already started.</exception>
    public void Start(Action<ProtocolMessage>? onMessage = null)
    {
        if (Completion != Task.CompletedTask)
        {
            throw new InvalidOperationException("the connection is reading already");
        }

        _onMessage = onMessage;
        Completion = Task.Run(ReadAsync, CancellationToken.None);
    }

    /// <summary>Reads the next message directly (before <see cref="Start"/>, e.g. to take the <c>welcome</c> first).</summary>
    /// <param name="cancellationToken">Stops waiting.</param>
    /// <returns>The message, or null once the socket has closed (by either side, or broken).</returns>
    public async Task<ProtocolMessage?> ReceiveAsync(CancellationToken cancellationToken = default)
    {
        var buffer = _buffer ??= new ArrayBufferWriter<byte>(16 * 1024);
        buffer.ResetWrittenCount();
        try
        {
            while (true)
            {
                var result = await _socket.ReceiveAsync(buffer.GetMemory(16 * 1024), cancellationToken).ConfigureAwait(false);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    return null;
                }

                buffer.Advance(result.Count);
                if (buffer.WrittenCount > _options.MaxMessageBytes)
                {
                    _socket.Abort();
                    return null;
                }

                if (result.EndOfMessage)
                {
                    return ProtocolMessage.Parse(buffer.WrittenSpan, _options.KeepJson);
                }
            }
        }
        catch (Exception ex) when (ex is WebSocketException or ObjectDisposedException or JsonException or IOException
            || (ex is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            // Broken (an aborted socket fails its pending receive with OperationCanceledException): closed, as far as
            // the reader is concerned.
            _socket.Abort();
            return null;
        }
    }

    /// <summary>Stops taking messages off the socket after the one being read, as a stalled device would (the server sees a slow reader).</summary>
    public void PauseReading() => _reading = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Takes messages off the socket again after <see cref="PauseReading"/>.</summary>
    public void ResumeReading() => _reading.TrySetResult();

    /// <summary>
    /// The next message read after this call that <paramref name="match"/> accepts. The wait starts at once, so a
    /// wait set up before a request is sent cannot miss what the request causes.
    /// </summary>
    /// <param name="match">Which message; called on the reader, it must not block.</param>
    /// <param name="cancellationToken">Stops waiting.</param>
    /// <returns>The message; fails with <see cref="CallGrainsException"/> (<see cref="ErrorCodes.NotConnected"/>) if the connection closes first.</returns>
    public Task<ProtocolMessage> WaitForAsync(Func<ProtocolMessage, bool> match, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(match);
        var waiter = new Waiter(match);
        lock (_waiters)
        {
            if (_closed)
            {
                waiter.Close();
                return waiter.Task;
            }

            _waiters.Add(waiter);
        }

        if (cancellationToken.CanBeCanceled)
        {
            var registration = cancellationToken.Register(() =>
            {
                lock (_waiters)
                {
                    _waiters.Remove(waiter);
                }

                waiter.Cancel(cancellationToken);
            });
            _ = waiter.Task.ContinueWith(_ => registration.Dispose(), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }

        return waiter.Task;
    }

    /// <summary>The next event named <paramref name="name"/> read after this call, for the call <paramref name="sessionId"/> if given (see <see cref="WaitForAsync"/>).</summary>
    /// <param name="name">The event's name.</param>
    /// <param name="sessionId">The call's session id; null for any.</param>
    /// <param name="cancellationToken">Stops waiting.</param>
    /// <returns>The event.</returns>
    public Task<ProtocolMessage> WaitForEventAsync(string name, string? sessionId = null, CancellationToken cancellationToken = default) =>
        WaitForAsync(m => m.Event == name && (sessionId is null || m.SessionId == sessionId), cancellationToken);

    private static TaskCompletionSource Resumed()
    {
        var reading = new TaskCompletionSource();
        reading.SetResult();
        return reading;
    }

    private async Task ReadAsync()
    {
        try
        {
            while (true)
            {
                await _reading.Task.ConfigureAwait(false);
                if (await ReceiveAsync(CancellationToken.None).ConfigureAwait(false) is not { } message)
                {
                    return;
                }

                Dispatch(message);
            }
        }
        finally
        {
            ClosedAt = DateTimeOffset.UtcNow;
            CloseAll();
        }
    }

    private void Dispatch(ProtocolMessage message)
    {
        PendingRequest? request = null;
        if (message.Id is { } id && _pending.TryRemove(id, out request))
        {
            message.Op = request.Op;
        }

        if (_options.KeepLog)
        {
            lock (_log)
            {
                _log.Add(message);
            }
        }

        _onMessage?.Invoke(message);
        request?.Complete(message);
        List<Waiter>? woken = null;
        lock (_waiters)
        {
            for (var i = _waiters.Count - 1; i >= 0; i--)
            {
                if (_waiters[i].Match(message))
                {
                    (woken ??= []).Add(_waiters[i]);
                    _waiters.RemoveAt(i);
                }
            }
        }

        woken?.ForEach(w => w.Complete(message));
    }

    /// <summary>The socket closed: requests still waiting get no response, waits fail.</summary>
    private void CloseAll()
    {
        List<Waiter> waiters;
        lock (_waiters)
        {
            Volatile.Write(ref _closed, true);
            waiters = [.. _waiters];
            _waiters.Clear();
        }

        foreach (var id in _pending.Keys)
        {
            if (_pending.TryRemove(id, out var request))
            {
                request.Complete(null);
            }
        }

        waiters.ForEach(w => w.Close());
    }

    private sealed class Waiter(Func<ProtocolMessage, bool> match)
    {
        private readonly TaskCompletionSource<ProtocolMessage> _result = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task<ProtocolMessage> Task => _result.Task;

        public bool Match(ProtocolMessage message) => match(message);

        public void Complete(ProtocolMessage message) => _result.TrySetResult(message);

        public void Cancel(CancellationToken cancellationToken) => _result.TrySetCanceled(cancellationToken);

        public void Close() => _result.TrySetException(new CallGrainsException(ErrorCodes.NotConnected, "the connection closed"));
    }
}
