using System.Text.Json;
using System.Text.Json.Nodes;
using CallGrains.Client.Internal;
using CallGrains.Client.Protocol;

namespace CallGrains.Client;

/// <summary>
/// One device of one user, connected to CallGrains: the ringing flow of CometChat's <c>CallManager</c> (initiate,
/// accept, reject, cancel, end, join, leave), its events, and a view of the user's calls that stays right across
/// reconnects. Thread-safe. Events are raised one at a time, in order, on a loop of the client's own (not the caller's
/// synchronization context).
/// </summary>
/// <example>
/// <code>
/// await using var client = await CallGrainsClient.ConnectAsync(new CallGrainsClientOptions { Server = server, Token = token });
/// client.IncomingCallReceived += async (_, e) => await client.AcceptCallAsync(e.Call.SessionId);
/// var call = await client.InitiateCallAsync(new Call("bob", CallType.Video));
/// </code>
/// </example>
public sealed partial class CallGrainsClient : IAsyncDisposable
{
    private readonly CallGrainsClientOptions _options;
    private readonly RestChannel _rest;
    private readonly EventDispatcher _events = new();
    private readonly Lock _gate = new();
    private readonly Dictionary<string, Pending> _pending = [];
    private readonly Dictionary<string, int> _busySessions = [];
    private readonly CancellationTokenSource _lifetime = new();
    private CallView _view = CallView.Empty;
    private ConnectionState _state = ConnectionState.Connecting;
    private ProtocolConnection? _connection;
    private long _seq = -1;
    private long _nextId;
    private int _initiating;
    private bool _disposed;

    private CallGrainsClient(CallGrainsClientOptions options, IClientTransport transport)
    {
        _options = options;
        Transport = transport;
        DeviceId = options.DeviceId ?? "";
        _rest = RestChannel.ForUser(options.Server, options.HttpHandler, options.RequestTimeout, options.Token);
    }

    /// <summary>A call rings for this user (PROTOCOL <c>incomingCallReceived</c>).</summary>
    public event EventHandler<CallEventArgs>? IncomingCallReceived;

    /// <summary>The callee accepted this user's call (for a group, the first member joined).</summary>
    public event EventHandler<CallEventArgs>? OutgoingCallAccepted;

    /// <summary>This user's call was declined (<c>rejected</c>, <c>busy</c>) or nobody answered (<c>unanswered</c>): see <see cref="CallInfo.Status"/>.</summary>
    public event EventHandler<CallEventArgs>? OutgoingCallRejected;

    /// <summary>A call stopped ringing for this device: cancelled by the caller, unanswered, or answered or declined on another device.</summary>
    public event EventHandler<CallCanceledEventArgs>? IncomingCallCanceled;

    /// <summary>A call this user was in has ended (ended by another participant, or, after a resync, while this client was away).</summary>
    public event EventHandler<CallEventArgs>? CallEndedMessageReceived;

    /// <summary>Someone joined a call this user is in.</summary>
    public event EventHandler<CallUserEventArgs>? UserJoined;

    /// <summary>Someone left a call this user is in.</summary>
    public event EventHandler<CallUserEventArgs>? UserLeft;

    /// <summary>Another participant sent this device signalling data (<see cref="SendSignalAsync"/>).</summary>
    public event EventHandler<SignalEventArgs>? SignalReceived;

    /// <summary>The connection changed state: Connected, Reconnecting, Disconnected.</summary>
    public event EventHandler<ConnectionStateChangedEventArgs>? ConnectionStateChanged;

    /// <summary>What the client's connections go through.</summary>
    internal IClientTransport Transport { get; }

    /// <summary>The connected user's uid (from the server's <c>welcome</c>).</summary>
    public string Uid { get; private set; } = "";

    /// <summary>This device's id: the one asked for, or the one the server chose on the first connection (kept for reconnects).</summary>
    public string DeviceId { get; private set; }

    /// <summary>The state of the connection.</summary>
    public ConnectionState State
    {
        get
        {
            lock (_gate)
            {
                return _state;
            }
        }
    }

    /// <summary>The user's active call: their outgoing call while it rings, or the call they are in; null if none.</summary>
    public CallInfo? CurrentCall
    {
        get
        {
            lock (_gate)
            {
                return _view.Active;
            }
        }
    }

    /// <summary>The calls ringing for this user now, oldest first.</summary>
    public IReadOnlyList<CallInfo> RingingCalls
    {
        get
        {
            lock (_gate)
            {
                return _view.Ringing;
            }
        }
    }

    /// <summary>The highest event seq this client has seen (PROTOCOL section 2).</summary>
    public long Seq
    {
        get
        {
            lock (_gate)
            {
                return _seq;
            }
        }
    }

    /// <summary>
    /// Connects and waits for the server's <c>welcome</c>. The calls the user already has are in
    /// <see cref="CurrentCall"/> and <see cref="RingingCalls"/> (no events are raised for them); from then on events
    /// tell every change, and after a reconnect the client raises the ones it missed.
    /// </summary>
    /// <param name="options">Where and as whom to connect.</param>
    /// <param name="cancellationToken">Cancels the connection attempt.</param>
    /// <returns>The connected client.</returns>
    /// <exception cref="CallGrainsException"><see cref="ErrorCodes.UserNotLoggedIn"/> for a refused token; <see cref="ErrorCodes.NotConnected"/> if the server cannot be reached.</exception>
    public static Task<CallGrainsClient> ConnectAsync(CallGrainsClientOptions options, CancellationToken cancellationToken = default) =>
        ConnectAsync(options, SocketTransport.Instance, cancellationToken);

    /// <summary>Connects through <paramref name="transport"/> (tests pass one that loses, injects or counts messages).</summary>
    internal static async Task<CallGrainsClient> ConnectAsync(CallGrainsClientOptions options, IClientTransport transport, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var client = new CallGrainsClient(options, transport);
        try
        {
            var connection = await client.OpenAsync(reconnect: false, cancellationToken).ConfigureAwait(false);
            client._runner = Task.Run(() => client.RunAsync(connection), CancellationToken.None);
            return client;
        }
        catch
        {
            await client.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Calls a user or a group (<c>initiateCall</c>).</summary>
    /// <param name="call">Who to call, audio or video, and optionally the ring timeout and metadata.</param>
    /// <param name="cancellationToken">Stops waiting for the response.</param>
    /// <returns>The call, <c>initiated</c> (ringing); <c>ongoing</c> if the callee was calling this user at the same moment (glare).</returns>
    /// <exception cref="CallGrainsException">E.g. <see cref="ErrorCodes.CallBusy"/> (with the <c>busy</c> call, or the group's live call to join), <see cref="ErrorCodes.CallInProgress"/>, <see cref="ErrorCodes.UidNotFound"/>.</exception>
    public Task<CallInfo> InitiateCallAsync(Call call, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(call);
        var args = new JsonObject
        {
            ["receiverId"] = call.ReceiverId,
            ["receiverType"] = call.ReceiverType.Name(),
            ["callType"] = call.CallType.Name(),
        };
        if (call.TimeoutSeconds is { } timeout)
        {
            args["timeoutSeconds"] = timeout;
        }

        if (call.Metadata is { } metadata)
        {
            args["metadata"] = JsonNode.Parse(metadata.GetRawText());
        }

        return CallRequestAsync("initiateCall", null, args, cancellationToken);
    }

    /// <summary>Answers a call ringing for this user (<c>acceptCall</c>); for a group call, joins it.</summary>
    /// <param name="sessionId">The ringing call.</param>
    /// <param name="cancellationToken">Stops waiting for the response.</param>
    /// <returns>The call, <c>ongoing</c>.</returns>
    /// <exception cref="CallGrainsException">E.g. <see cref="ErrorCodes.CallCancelled"/>, <see cref="ErrorCodes.CallAlreadyJoined"/> (another device was first), <see cref="ErrorCodes.CallUnanswered"/>.</exception>
    public Task<CallInfo> AcceptCallAsync(string sessionId, CancellationToken cancellationToken = default) =>
        CallRequestAsync("acceptCall", sessionId, [], cancellationToken);

    /// <summary>
    /// Declines a call ringing for this user (<see cref="CallStatus.Rejected"/> or <see cref="CallStatus.Busy"/>), or
    /// cancels this user's own ringing call (<see cref="CallStatus.Cancelled"/>) (<c>rejectCall</c>).
    /// </summary>
    /// <param name="sessionId">The call.</param>
    /// <param name="status">Rejected, Busy or Cancelled.</param>
    /// <param name="cancellationToken">Stops waiting for the response.</param>
    /// <returns>The call as it is after the request.</returns>
    /// <exception cref="ArgumentOutOfRangeException">Another status.</exception>
    /// <exception cref="CallGrainsException">E.g. <see cref="ErrorCodes.CallAlreadyJoined"/>, <see cref="ErrorCodes.PermissionDenied"/>.</exception>
    public Task<CallInfo> RejectCallAsync(string sessionId, CallStatus status, CancellationToken cancellationToken = default)
    {
        if (status is not (CallStatus.Rejected or CallStatus.Busy or CallStatus.Cancelled))
        {
            throw new ArgumentOutOfRangeException(nameof(status), status, "a call is rejected with Rejected, Busy or Cancelled");
        }

        return CallRequestAsync("rejectCall", sessionId, new JsonObject { ["status"] = status.Name() }, cancellationToken);
    }

    /// <summary>Ends a call (<c>endCall</c>): for everyone in a 1:1 call or as a group call's initiator; otherwise leaves it.</summary>
    /// <param name="sessionId">The call.</param>
    /// <param name="cancellationToken">Stops waiting for the response.</param>
    /// <returns>The call as it is after the request.</returns>
    public Task<CallInfo> EndCallAsync(string sessionId, CancellationToken cancellationToken = default) =>
        CallRequestAsync("endCall", sessionId, [], cancellationToken);

    /// <summary>Joins a live group call (<c>joinCall</c>), also after declining it.</summary>
    /// <param name="sessionId">The group call.</param>
    /// <param name="cancellationToken">Stops waiting for the response.</param>
    /// <returns>The call, with this user among its participants.</returns>
    public Task<CallInfo> JoinCallAsync(string sessionId, CancellationToken cancellationToken = default) =>
        CallRequestAsync("joinCall", sessionId, [], cancellationToken);

    /// <summary>Leaves a group call (<c>leaveCall</c>); the call ends when its last participant leaves.</summary>
    /// <param name="sessionId">The group call.</param>
    /// <param name="cancellationToken">Stops waiting for the response.</param>
    /// <returns>The call as it is after the request.</returns>
    public Task<CallInfo> LeaveCallAsync(string sessionId, CancellationToken cancellationToken = default) =>
        CallRequestAsync("leaveCall", sessionId, [], cancellationToken);

    /// <summary>Sends signalling data (a WebRTC offer, answer or ICE candidate) to another participant of an ongoing call (<c>signal</c>).</summary>
    /// <param name="sessionId">The call.</param>
    /// <param name="to">The participant's uid.</param>
    /// <param name="data">A JSON object, at most 16 KiB.</param>
    /// <param name="cancellationToken">Stops waiting for the response.</param>
    /// <returns>A task that completes when the server has taken it.</returns>
    public async Task SendSignalAsync(string sessionId, string to, JsonElement data, CancellationToken cancellationToken = default)
    {
        if (data.ValueKind != JsonValueKind.Object)
        {
            throw new ArgumentException("signal data must be a JSON object", nameof(data));
        }

        await RequestAsync("signal", sessionId, new JsonObject { ["to"] = to, ["data"] = JsonNode.Parse(data.GetRawText()) }, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Asks the server for the user's calls now (<c>sync</c>) and raises the events this client missed, if any.</summary>
    /// <param name="cancellationToken">Stops waiting for the response.</param>
    /// <returns>A task that completes when the view is current.</returns>
    public Task SyncAsync(CancellationToken cancellationToken = default) => SyncCoreAsync(cancellationToken);

    /// <summary>Gets a media token for a call (<c>POST /v1/calls/{sessionId}/token</c>), for a party of a live call.</summary>
    /// <param name="sessionId">The call.</param>
    /// <param name="cancellationToken">Cancels the request.</param>
    /// <returns>The token and when it expires.</returns>
    public async Task<CallToken> GenerateTokenAsync(string sessionId, CancellationToken cancellationToken = default)
    {
        var body = await _rest.SendAsync(HttpMethod.Post, $"/v1/calls/{Uri.EscapeDataString(sessionId)}/token", null, cancellationToken).ConfigureAwait(false);
        return new CallToken(WireFormat.Str(body, "token"), WireFormat.UnixSeconds(WireFormat.OptionalLong(body, "expiresAt") ?? 0));
    }

    /// <summary>Reads one call of this user's, live or settled (<c>GET /v1/calls/{sessionId}</c>).</summary>
    /// <param name="sessionId">The call.</param>
    /// <param name="cancellationToken">Cancels the request.</param>
    /// <returns>The call.</returns>
    public async Task<CallInfo> GetCallAsync(string sessionId, CancellationToken cancellationToken = default)
    {
        var body = await _rest.SendAsync(HttpMethod.Get, $"/v1/calls/{Uri.EscapeDataString(sessionId)}", null, cancellationToken).ConfigureAwait(false);
        return WireFormat.ParseCall(body.GetProperty("call"));
    }

    /// <summary>Reads a page of this user's call log, newest first (<c>GET /v1/calls</c>): settled calls only.</summary>
    /// <param name="query">Filters and paging; null for the first page of everything.</param>
    /// <param name="cancellationToken">Cancels the request.</param>
    /// <returns>The page; pass its <see cref="CallLogPage.Next"/> as <see cref="CallLogQuery.Cursor"/> for the next one.</returns>
    public async Task<CallLogPage> GetCallLogAsync(CallLogQuery? query = null, CancellationToken cancellationToken = default) =>
        WireFormat.ParseLogPage(await _rest.SendAsync(HttpMethod.Get, "/v1/calls" + WireFormat.LogQueryString(query ?? new CallLogQuery()), null, cancellationToken).ConfigureAwait(false));

    /// <summary>Closes the connection (with a close handshake), stops reconnecting and raises Disconnected.</summary>
    /// <returns>A task that completes when the client has stopped.</returns>
    public async ValueTask DisposeAsync()
    {
        ProtocolConnection? connection;
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            connection = _connection;
        }

        await _lifetime.CancelAsync().ConfigureAwait(false);
        if (connection is not null)
        {
            await connection.CloseAsync(TimeSpan.FromSeconds(2)).ConfigureAwait(false);
        }

        if (_runner is { } runner && !_events.IsCurrent)
        {
            await Task.WhenAny(runner, Task.Delay(TimeSpan.FromSeconds(5))).ConfigureAwait(false);
        }

        SetState(ConnectionState.Disconnected, null, "disposed");
        await _events.CompleteAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        connection?.Dispose();
        _rest.Dispose();
        _lifetime.Dispose();
    }
}
