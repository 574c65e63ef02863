// CallGrains browser client: the wire contract (PROTOCOL v1) as a small ES module. No build step, no dependencies.
//
//   import { CallGrainsClient } from '/js/callgrains.js';
//   const client = await CallGrainsClient.connect({ server: location.origin, token, deviceId });
//   client.on('incomingCallReceived', call => ...);
//   const call = await client.initiateCall({ receiverId: 'bob', callType: 'video', receiverType: 'user' });
//
// Events (handler arguments): incomingCallReceived, outgoingCallAccepted, outgoingCallRejected,
// incomingCallCanceled, callEndedMessageReceived, userJoined, userLeft: (call, detail) where detail is the event
// message ({event, seq, reason?, user?}) plus {resynced: true} when the client raised it after finding, on a
// reconnect or a sync, that it missed the server's event. signal: ({sessionId, from, data, call}).
// connectionStateChanged: ({state, previous, code?, reason?}). resynced: ({activeCall, ringing}).

/** Connection states, in the order a client normally goes through them. */
export const ConnectionState = Object.freeze({
  connecting: 'connecting',
  connected: 'connected',
  reconnecting: 'reconnecting',
  closed: 'closed',
});

/** The events a client raises. */
export const CallEvents = Object.freeze([
  'incomingCallReceived', 'outgoingCallAccepted', 'outgoingCallRejected', 'incomingCallCanceled',
  'callEndedMessageReceived', 'userJoined', 'userLeft', 'signal', 'connectionStateChanged', 'resynced',
]);

/**
 * The one error type: `code` is the protocol's (ERR_CALL_BUSY, ERR_USER_NOT_LOGGED_IN, ...), or one of the client's
 * own: ERR_NOT_CONNECTED (no open socket for the request), ERR_TIMEOUT (no answer in time; the outcome is unknown:
 * the next sync tells).
 */
export class CallGrainsError extends Error {
  /**
   * @param {string} code
   * @param {string} message
   * @param {object} [extra] `call` (the call the failed request created or touched), `status` (HTTP status, REST)
   */
  constructor(code, message, extra = {}) {
    super(message);
    this.name = 'CallGrainsError';
    this.code = code;
    this.call = extra.call ?? null;
    this.status = extra.status ?? null;
  }
}

const DEFAULTS = {
  requestTimeoutMs: 15000,
  reconnectMinDelayMs: 500,
  reconnectMaxDelayMs: 15000,
  // A seq gap may just be an event still on its way (events and responses travel apart): wait this long before sync.
  gapGraceMs: 1500,
  // With nothing heard for this long, a ping checks that the socket is still alive.
  heartbeatMs: 20000,
  // 'protocol': the token rides in Sec-WebSocket-Protocol, out of the URL (so out of proxies' access logs);
  // 'query': as ?token=, for a server or proxy that does not pass the subprotocol on.
  tokenIn: 'protocol',
};

// The subprotocol the server selects; the token is offered beside it and never echoed back.
const SUBPROTOCOL = 'callgrains.v1';
const AUTH_SUBPROTOCOL = 'callgrains.auth.';

// Close codes (docs/protocol.md) after which reconnecting cannot help.
const REPLACED = 4000;
const TOKEN_REVOKED = 4001;

const PLACEHOLDER = Symbol('placeholder');

export class CallGrainsClient {
  /**
   * Opens the WebSocket and resolves once the server's `welcome` has arrived.
   * @param {object} options
   * @param {string} [options.server] base URL (http(s)://host:port); default: this page's origin
   * @param {string} options.token the user's auth token (offered as the subprotocol `callgrains.auth.<token>`)
   * @param {'protocol'|'query'} [options.tokenIn] how the token travels: 'protocol' (default) or 'query' (?token=)
   * @param {string} [options.deviceId] 1-64 of [A-Za-z0-9._-]; default: the server picks one, kept across reconnects
   * @param {() => Promise<string>} [options.refreshToken] called for a new token when the server refuses the old one
   * @param {object} [options.listeners] {eventName: handler}, registered before the socket opens
   * @returns {Promise<CallGrainsClient>}
   */
  static async connect(options) {
    const client = new CallGrainsClient(options, PLACEHOLDER);
    for (const [name, handler] of Object.entries(options.listeners ?? {})) client.on(name, handler);
    await client._open(true);
    return client;
  }

  constructor(options, token) {
    if (token !== PLACEHOLDER) throw new Error('use CallGrainsClient.connect(options)');
    if (!options?.token) throw new CallGrainsError('ERR_USER_NOT_LOGGED_IN', 'an auth token is required');
    this._options = { ...DEFAULTS, ...options };
    this._server = new URL(options.server ?? globalThis.location.origin);
    this._token = options.token;
    this._deviceId = options.deviceId ?? null;
    this._uid = null;
    this._handlers = new Map();
    this._pending = new Map();
    this._nextId = 1;
    this._ws = null;
    this._state = ConnectionState.connecting;
    this._closedByUser = false;
    this._attempt = 0;
    this._reconnectTimer = null;
    this._heartbeatTimer = null;
    this._lastHeard = 0;
    this._active = null;
    this._ringing = new Map();
    this._floor = 0;
    this._seen = new Set();
    this._gapTimer = null;
    this._syncing = null;
  }

  /** The signed-in user's uid (from `welcome`). */
  get uid() { return this._uid; }

  /** This device's id (the server's choice when none was given). */
  get deviceId() { return this._deviceId; }

  /** One of {@link ConnectionState}. */
  get connectionState() { return this._state; }

  /** The user's active call (their ringing outgoing call or their ongoing call, on any device), or null. */
  getActiveCall() { return this._active; }

  /** Calls ringing for the user now. */
  getRingingCalls() { return [...this._ringing.values()]; }

  /**
   * Adds a handler; returns a function that removes it.
   * @param {string} name one of {@link CallEvents}
   * @param {Function} handler
   */
  on(name, handler) {
    if (!CallEvents.includes(name)) throw new Error(`unknown event ${name}`);
    if (!this._handlers.has(name)) this._handlers.set(name, new Set());
    this._handlers.get(name).add(handler);
    return () => this.off(name, handler);
  }

  off(name, handler) { this._handlers.get(name)?.delete(handler); }

  /**
   * Calls a user or a group. Resolves with the call (status `initiated`, or `ongoing` when the callee was calling
   * this user at the same moment: glare). Busy callee: rejects with ERR_CALL_BUSY and `error.call` (status `busy`).
   * @param {{receiverId: string, callType: 'audio'|'video', receiverType?: 'user'|'group', timeoutSeconds?: number, metadata?: object}} call
   */
  async initiateCall({ receiverId, callType, receiverType = 'user', timeoutSeconds, metadata }) {
    const call = (await this._request('initiateCall', { receiverId, callType, receiverType, timeoutSeconds, metadata })).call;
    this._ringing.delete(call.sessionId);
    this._active = call;
    return call;
  }

  /** Accepts a call ringing for this user; resolves with the call, now `ongoing`. */
  async acceptCall(sessionId) {
    const call = (await this._request('acceptCall', { sessionId })).call;
    this._ringing.delete(sessionId);
    this._active = call;
    return call;
  }

  /**
   * Callee: `rejected` (default) or `busy`; caller: `cancelled`, to stop their own ringing call.
   * @param {string} sessionId
   * @param {'rejected'|'busy'|'cancelled'} [status]
   */
  async rejectCall(sessionId, status = 'rejected') {
    const call = (await this._request('rejectCall', { sessionId, status })).call;
    this._forget(call);
    return call;
  }

  /** Ends the call (a ringing call: cancels it for the caller, rejects it for the callee). */
  async endCall(sessionId) {
    const call = (await this._request('endCall', { sessionId })).call;
    this._forget(call, true);
    return call;
  }

  /** Joins an ongoing group call. */
  async joinCall(sessionId) {
    const call = (await this._request('joinCall', { sessionId })).call;
    this._ringing.delete(sessionId);
    this._active = call;
    return call;
  }

  /** Leaves a group call; it goes on for the others. */
  async leaveCall(sessionId) {
    const call = (await this._request('leaveCall', { sessionId })).call;
    this._forget(call, true);
    return call;
  }

  /**
   * Sends opaque data (a WebRTC offer, answer or ICE candidate; at most 16 KiB of JSON) to another participant's device
   * in the call. They get a `signal` event.
   */
  async sendSignal(sessionId, to, data) {
    await this._request('signal', { sessionId, to, data });
  }

  /** A call (media) token: resolves with {token, expiresAt}. */
  async generateToken(sessionId) {
    const { token, expiresAt } = await this._request('generateToken', { sessionId });
    return { token, expiresAt };
  }

  /**
   * The user's call log, newest first (REST GET /v1/calls). Resolves with {calls, next}; pass `next` as `cursor`.
   * @param {{limit?: number, cursor?: string, status?: string, callType?: string, direction?: string, receiverType?: string, missed?: boolean}} [query]
   */
  async getCallLog(query = {}) {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(query)) {
      if (value !== undefined && value !== null) params.set(key, String(value));
    }
    const suffix = params.size ? `?${params}` : '';
    return this._rest(`/v1/calls${suffix}`);
  }

  /** One call of this user's, live or settled (REST GET /v1/calls/{sessionId}). */
  async getCall(sessionId) {
    return (await this._rest(`/v1/calls/${encodeURIComponent(sessionId)}`)).call;
  }

  /**
   * TURN credentials for this user (REST GET /v1/turn). Resolves with {iceServers, ttl}: pass `iceServers` to
   * `new RTCPeerConnection({ iceServers })`, and ask again before `ttl` seconds have passed (say at half of it).
   * Without TURN configured on the server: {iceServers: [], ttl: 0}.
   */
  async getTurnCredentials() {
    const { iceServers, ttl } = await this._rest('/v1/turn');
    return { iceServers, ttl };
  }

  /** Asks the server for the user's state and raises what this client missed. Resolves with {activeCall, ringing}. */
  sync() {
    this._syncing ??= this._request('sync', {})
      .then(async snapshot => {
        this._adoptSeq(snapshot.seq);
        await this._reconcile(snapshot, false);
        return { activeCall: this._active, ringing: this.getRingingCalls() };
      })
      .finally(() => { this._syncing = null; });
    return this._syncing;
  }

  /** Closes the socket for good; pending requests fail with ERR_NOT_CONNECTED. */
  close() {
    this._closedByUser = true;
    clearTimeout(this._reconnectTimer);
    this._stopTimers();
    this._ws?.close(1000, 'bye');
    this._setState(ConnectionState.closed, { code: 1000, reason: 'closed by the client' });
    this._failPending('ERR_NOT_CONNECTED', 'the client was closed');
  }

  // ---- the socket ------------------------------------------------------------------------------------------------

  _url() {
    const url = new URL('/v1/ws', this._server);
    url.protocol = this._server.protocol === 'https:' ? 'wss:' : 'ws:';
    if (this._options.tokenIn === 'query') url.searchParams.set('token', this._token);
    if (this._deviceId) url.searchParams.set('deviceId', this._deviceId);
    return url;
  }

  /** One connection attempt: resolves after `welcome`, rejects if the socket closes first. */
  _open(initial) {
    return new Promise((resolve, reject) => {
      const ws = this._options.tokenIn === 'query'
        ? new WebSocket(this._url())
        : new WebSocket(this._url(), [SUBPROTOCOL, AUTH_SUBPROTOCOL + this._token]);
      this._ws = ws;
      let welcomed = false;
      ws.onmessage = message => {
        if (ws !== this._ws) return;
        this._lastHeard = Date.now();
        let frame;
        try { frame = JSON.parse(message.data); } catch { return; }
        if (!welcomed && frame.event === 'welcome') {
          welcomed = true;
          this._welcome(frame, initial).then(resolve, reject);
          return;
        }
        this._dispatch(frame);
      };
      ws.onclose = async close => {
        if (ws !== this._ws) return;
        this._stopTimers();
        this._failPending('ERR_NOT_CONNECTED', 'the connection closed before the server answered');
        if (!welcomed) {
          // A refused upgrade shows in a browser only as a close (1006): ask REST why, to tell a bad token apart.
          const error = await this._whyRefused();
          if (initial) {
            this._setState(ConnectionState.closed, { code: close.code, reason: error.message });
            reject(error);
            return;
          }
          if (error.code === 'ERR_USER_NOT_LOGGED_IN' && !(await this._renewToken())) {
            this._setState(ConnectionState.closed, { code: close.code, reason: error.message });
            return;
          }
        }
        this._closed(close);
      };
    });
  }

  async _welcome(frame, initial) {
    this._uid = frame.uid;
    this._deviceId = frame.deviceId;
    this._attempt = 0;
    this._seen.clear();
    this._floor = frame.seq;
    this._lastHeard = Date.now();
    this._startHeartbeat();
    this._setState(ConnectionState.connected);
    await this._reconcile(frame, initial);
  }

  _closed(close) {
    if (this._closedByUser) return;
    if (close.code === REPLACED) {
      this._setState(ConnectionState.closed, { code: close.code, reason: 'another connection with this deviceId replaced this one' });
      return;
    }
    if (close.code === TOKEN_REVOKED) {
      this._renewToken().then(renewed => renewed
        ? this._scheduleReconnect(0)
        : this._setState(ConnectionState.closed, { code: close.code, reason: 'the auth token was revoked or expired' }));
      return;
    }
    // 1012: the gateway is stopping, others are up: come back soon. Anything else: back off.
    this._scheduleReconnect(close.code === 1012 ? 0 : undefined, close);
  }

  _scheduleReconnect(delayMs, close) {
    this._attempt += 1;
    // Exponential back-off with full jitter, so that many clients of a restarted gateway do not return at once.
    const ceiling = Math.min(this._options.reconnectMaxDelayMs, this._options.reconnectMinDelayMs * 2 ** (this._attempt - 1));
    const delay = delayMs ?? ceiling / 2 + Math.random() * ceiling / 2;
    const jittered = delayMs === 0 ? Math.random() * this._options.reconnectMinDelayMs : delay;
    this._setState(ConnectionState.reconnecting, { code: close?.code, reason: close?.reason, retryInMs: Math.round(jittered) });
    clearTimeout(this._reconnectTimer);
    this._reconnectTimer = setTimeout(() => {
      if (this._closedByUser) return;
      this._open(false).catch(() => {});
    }, jittered);
  }

  async _renewToken() {
    if (!this._options.refreshToken) return false;
    try {
      this._token = await this._options.refreshToken();
      return Boolean(this._token);
    } catch {
      return false;
    }
  }

  async _whyRefused() {
    try {
      await this._rest('/v1/calls?limit=1');
      return new CallGrainsError('ERR_INTERNAL', `could not open a WebSocket to ${this._server.origin}`);
    } catch (error) {
      return error instanceof CallGrainsError ? error : new CallGrainsError('ERR_INTERNAL', `cannot reach ${this._server.origin}`);
    }
  }

  _startHeartbeat() {
    clearInterval(this._heartbeatTimer);
    this._heartbeatTimer = setInterval(() => {
      if (Date.now() - this._lastHeard < this._options.heartbeatMs) return;
      const ws = this._ws;
      // A socket that cannot even answer a ping is dead (a laptop lid, a dropped Wi-Fi): start over.
      this._request('ping', {}).catch(() => { if (ws === this._ws && ws.readyState === WebSocket.OPEN) ws.close(3000, 'no answer to ping'); });
    }, this._options.heartbeatMs / 2);
  }

  _stopTimers() {
    clearInterval(this._heartbeatTimer);
    clearTimeout(this._gapTimer);
    this._gapTimer = null;
  }

  _setState(state, detail = {}) {
    if (this._state === state && state !== ConnectionState.reconnecting) return;
    const previous = this._state;
    this._state = state;
    this._emit('connectionStateChanged', { state, previous, ...detail });
  }

  // ---- requests --------------------------------------------------------------------------------------------------

  _request(op, args) {
    const ws = this._ws;
    if (!ws || ws.readyState !== WebSocket.OPEN || this._state !== ConnectionState.connected) {
      return Promise.reject(new CallGrainsError('ERR_NOT_CONNECTED', `not connected (${this._state}): ${op} was not sent`));
    }
    const id = String(this._nextId++);
    const body = { id, op };
    for (const [key, value] of Object.entries(args)) if (value !== undefined) body[key] = value;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this._pending.delete(id);
        reject(new CallGrainsError('ERR_TIMEOUT', `no answer to ${op} within ${this._options.requestTimeoutMs} ms`));
      }, this._options.requestTimeoutMs);
      this._pending.set(id, { resolve, reject, timer });
      ws.send(JSON.stringify(body));
    });
  }

  _failPending(code, message) {
    for (const { reject, timer } of this._pending.values()) {
      clearTimeout(timer);
      reject(new CallGrainsError(code, message));
    }
    this._pending.clear();
  }

  async _rest(path) {
    const response = await fetch(new URL(path, this._server), { headers: { Authorization: `Bearer ${this._token}` } });
    const body = await response.json().catch(() => null);
    if (!response.ok) {
      const error = body?.error ?? { code: 'ERR_INTERNAL', message: `HTTP ${response.status}` };
      throw new CallGrainsError(error.code, error.message, { status: response.status });
    }
    return body;
  }

  // ---- what the server says --------------------------------------------------------------------------------------

  _dispatch(frame) {
    if ('id' in frame && 'ok' in frame) {
      this._see(frame.seq);
      const pending = this._pending.get(frame.id);
      if (!pending) return;
      this._pending.delete(frame.id);
      clearTimeout(pending.timer);
      if (frame.ok) pending.resolve(frame);
      else pending.reject(new CallGrainsError(frame.error.code, frame.error.message, { call: frame.call }));
      return;
    }
    if (!frame.event) return;
    if (frame.event === 'signal') {
      // Unnumbered: it carries the user's current seq without bumping it, so it takes no part in gap detection.
      this._emit('signal', { sessionId: frame.call?.sessionId, from: frame.from, data: frame.data, call: frame.call });
      return;
    }
    this._see(frame.seq);
    this._apply(frame);
    this._emit(frame.event, frame.call, frame);
  }

  /** Keeps the user's view (active call, ringing calls) as the event leaves it. */
  _apply(frame) {
    const call = frame.call;
    if (!call) return;
    switch (frame.event) {
      case 'incomingCallReceived':
        this._ringing.set(call.sessionId, call);
        break;
      case 'incomingCallCanceled':
        this._ringing.delete(call.sessionId);
        if (frame.reason === 'answeredElsewhere') this._active = call;
        break;
      case 'outgoingCallAccepted':
      case 'userJoined':
      case 'userLeft':
        if (!this._active || this._active.sessionId === call.sessionId) this._active = call;
        break;
      case 'outgoingCallRejected':
      case 'callEndedMessageReceived':
        this._forget(call, true);
        break;
    }
  }

  _forget(call, includingActive = call.status !== 'ongoing') {
    this._ringing.delete(call.sessionId);
    if (includingActive && this._active?.sessionId === call.sessionId) this._active = null;
    else if (this._active?.sessionId === call.sessionId) this._active = call;
  }

  // Seq numbers: every number up to _floor is accounted for; _seen holds those above it. A number missing below the
  // highest seen one, for longer than an event can take to arrive, was lost: sync repairs the view.
  _see(seq) {
    if (typeof seq !== 'number' || seq <= this._floor) return;
    this._seen.add(seq);
    while (this._seen.delete(this._floor + 1)) this._floor += 1;
    if (this._seen.size > 0 && !this._gapTimer) {
      this._gapTimer = setTimeout(() => {
        this._gapTimer = null;
        if (this._seen.size > 0 && this._state === ConnectionState.connected) this.sync().catch(() => {});
      }, this._options.gapGraceMs);
    }
  }

  _adoptSeq(seq) {
    if (seq > this._floor) this._floor = seq;
    for (const n of this._seen) if (n <= this._floor) this._seen.delete(n);
    while (this._seen.delete(this._floor + 1)) this._floor += 1;
  }

  /**
   * Takes the server's snapshot (welcome or sync) as the truth and raises the events this client missed: rings that
   * started or stopped, an outgoing call answered or refused, a call that ended, people who joined or left.
   */
  async _reconcile(snapshot, initial) {
    const before = { active: this._active, ringing: new Map(this._ringing) };
    this._active = snapshot.activeCall ?? null;
    this._ringing = new Map((snapshot.ringing ?? []).map(call => [call.sessionId, call]));
    if (initial) return;
    const missed = { resynced: true };
    for (const [sessionId, call] of this._ringing) {
      if (!before.ringing.has(sessionId)) this._emit('incomingCallReceived', call, { event: 'incomingCallReceived', ...missed });
    }
    for (const [sessionId, call] of before.ringing) {
      if (this._ringing.has(sessionId)) continue;
      const now = this._active?.sessionId === sessionId ? this._active : await this._settled(call);
      this._emit('incomingCallCanceled', now, { event: 'incomingCallCanceled', reason: cancelReason(now, this._uid), ...missed });
    }
    const was = before.active;
    const is = this._active;
    if (was && is?.sessionId !== was.sessionId) {
      const now = await this._settled(was);
      const refused = ['rejected', 'busy', 'unanswered'].includes(now.status) && !now.joinedAt;
      const name = refused && now.initiator.uid === this._uid ? 'outgoingCallRejected' : 'callEndedMessageReceived';
      this._emit(name, now, { event: name, ...missed });
    } else if (was && is) {
      if (was.status === 'initiated' && is.status === 'ongoing' && is.initiator.uid === this._uid) {
        this._emit('outgoingCallAccepted', is, { event: 'outgoingCallAccepted', ...missed });
      }
      const present = call => new Set(call.participants.filter(p => p.leftAt === null).map(p => p.uid));
      const [old, current] = [present(was), present(is)];
      for (const uid of current) {
        if (!old.has(uid) && uid !== this._uid) this._emit('userJoined', is, { event: 'userJoined', user: { uid }, ...missed });
      }
      for (const uid of old) {
        if (!current.has(uid) && uid !== this._uid) this._emit('userLeft', is, { event: 'userLeft', user: { uid }, ...missed });
      }
    }
    this._emit('resynced', { activeCall: this._active, ringing: this.getRingingCalls() });
  }

  /** The call as it is now (REST), or as last known if it cannot be read. */
  async _settled(call) {
    try {
      return await this.getCall(call.sessionId);
    } catch {
      return call;
    }
  }

  _emit(name, ...args) {
    for (const handler of [...(this._handlers.get(name) ?? [])]) {
      try {
        handler(...args);
      } catch (error) {
        console.error(`callgrains: a ${name} handler threw`, error);
      }
    }
  }
}

/** Why a ring stopped, told from where the call stands now. */
function cancelReason(call, uid) {
  switch (call.status) {
    case 'ongoing':
    case 'ended':
      return call.participants.some(p => p.uid === uid) ? 'answeredElsewhere' : 'cancelled';
    case 'rejected':
    case 'busy':
      return 'rejectedElsewhere';
    case 'unanswered':
      return 'unanswered';
    default:
      return 'cancelled';
  }
}
