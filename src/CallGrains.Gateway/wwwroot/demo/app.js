// The demo page: sign in by name (Development only), see who is here, call them, answer, hang up. Signalling goes
// through /js/callgrains.js; media goes straight between the browsers (media.js).
import { CallGrainsClient, CallGrainsError } from '/js/callgrains.js';
import { getLocalMedia, PeerLink } from '/demo/media.js';

const $ = id => document.getElementById(id);
const SESSION_KEY = 'callgrains-demo-session';
const DEVICE_KEY = 'callgrains-demo-device';
const PEOPLE_EVERY_MS = 3000;

let client = null;
let me = null;            // {uid, name, authToken, iceServers}
let people = new Map();   // uid -> {uid, name, online, inCall}
let peopleTimer = null;
let turnServers = [];      // from GET /v1/turn: none unless the server has Turn:Urls
let turnTimer = null;
let noticeTimer = null;
let clockTimer = null;

// The call this page shows, if any:
// {sessionId?, direction: 'out'|'in', peerUid, peerName, callType, state, offerer, stream?, link?, since?, cancelled?}
let call = null;
const earlySignals = new Map(); // sessionId -> [data] that came before this page set up its connection

// ---- signing in ----------------------------------------------------------------------------------------------------

function uidFor(name) {
  return name.trim().toLowerCase().normalize('NFKD').replace(/[^a-z0-9_-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 100);
}

function deviceId() {
  let id = sessionStorage.getItem(DEVICE_KEY);
  if (!id) {
    id = `web-${crypto.getRandomValues(new Uint32Array(2)).join('-')}`;
    sessionStorage.setItem(DEVICE_KEY, id);
  }
  return id;
}

async function signIn(name) {
  const uid = uidFor(name);
  if (!uid) throw new Error('Use at least one letter or digit in your name.');
  const response = await fetch('/dev/signin', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ uid, name: name.trim() }),
  });
  const body = await response.json().catch(() => null);
  if (!response.ok) throw new Error(body?.error?.message ?? `Sign-in failed (HTTP ${response.status}).`);
  return body;
}

async function connect(session) {
  me = session;
  client = await CallGrainsClient.connect({
    server: location.origin,
    token: session.authToken,
    deviceId: deviceId(),
    refreshToken: async () => (me = { ...me, ...(await signIn(me.name)) }).authToken,
    listeners: {
      connectionStateChanged: ({ state, code }) => {
        showConnection(state);
        if (code === 4000) notify('This page was opened in another tab: use that one.', 'error');
      },
      incomingCallReceived: onIncoming,
      outgoingCallAccepted: onAccepted,
      outgoingCallRejected: onRejected,
      incomingCallCanceled: onCanceled,
      callEndedMessageReceived: onEnded,
      signal: onSignal,
    },
  });
  sessionStorage.setItem(SESSION_KEY, JSON.stringify(session));
  $('me-name').textContent = session.name;
  $('me-avatar').textContent = initials(session.name);
  $('me').hidden = false;
  $('signin').hidden = true;
  $('home').hidden = false;
  showConnection(client.connectionState);
  setBodyState();
  refreshPeople();
  peopleTimer = setInterval(refreshPeople, PEOPLE_EVERY_MS);
  await refreshTurn();
  refreshHistory();
  await resume();
}

/** After a reload: a call that rings for this user, or one they are in, comes back on screen. */
async function resume() {
  const ringing = client.getRingingCalls()[0];
  const active = client.getActiveCall();
  if (ringing) {
    onIncoming(ringing);
  } else if (active?.receiverType === 'user') {
    const out = active.initiator.uid === me.uid;
    call = {
      sessionId: active.sessionId, direction: out ? 'out' : 'in', callType: active.callType, offerer: out,
      peerUid: out ? active.receiverId : active.initiator.uid,
      peerName: out ? nameOf(active.receiverId) : active.initiator.name,
      state: active.status === 'ongoing' ? 'connecting' : 'outgoing',
    };
    render();
    try {
      call.stream = await getLocalMedia(call.callType);
      showLocal();
      if (active.status === 'ongoing') await startMedia(true);
    } catch (error) {
      notify(error.message, 'error');
    }
  }
}

async function signOut() {
  if (call?.sessionId) await client.endCall(call.sessionId).catch(() => {});
  teardown();
  clearInterval(peopleTimer);
  clearTimeout(turnTimer);
  turnServers = [];
  client?.close();
  client = null;
  me = null;
  sessionStorage.removeItem(SESSION_KEY);
  $('me').hidden = true;
  $('home').hidden = true;
  $('signin').hidden = false;
  document.body.dataset.state = 'signed-out';
}

// TURN credentials (the server's Turn:Urls, beside the demo's static Demo:IceServers), renewed at half their lifetime
// so a call always starts with valid ones.
async function refreshTurn() {
  clearTimeout(turnTimer);
  const current = client;
  let again = 60;
  try {
    const { iceServers, ttl } = await current.getTurnCredentials();
    if (client !== current) return;
    turnServers = iceServers;
    if (ttl === 0) return;
    again = Math.max(30, ttl / 2);
  } catch {
    // Keeps what it had and tries again in a minute.
  }
  if (client === current) turnTimer = setTimeout(refreshTurn, again * 1000);
}

// ---- people and history --------------------------------------------------------------------------------------------

async function refreshPeople() {
  try {
    const response = await fetch('/dev/users', { cache: 'no-store' });
    if (!response.ok) return;
    const { users } = await response.json();
    people = new Map(users.map(u => [u.uid, u]));
    renderPeople();
  } catch {
    // The server is away; the connection pill says so.
  }
}

function renderPeople() {
  const list = $('people');
  const others = [...people.values()].filter(p => p.uid !== me?.uid);
  $('people-empty').hidden = others.length > 0;
  list.replaceChildren(...others.map(person => {
    const li = document.createElement('li');
    const presence = person.inCall ? 'in-call' : person.online ? 'online' : 'offline';
    li.dataset.uid = person.uid;
    li.dataset.presence = presence;
    li.innerHTML = `
      <span class="avatar" aria-hidden="true"></span>
      <div class="person"><div class="person-name"></div><div class="presence"></div></div>
      <div class="call-buttons">
        <button type="button" data-call="audio">Audio</button>
        <button type="button" data-call="video">Video</button>
      </div>`;
    li.querySelector('.avatar').textContent = initials(person.name);
    li.querySelector('.person-name').textContent = person.name;
    li.querySelector('.presence').textContent = { 'in-call': 'In a call', online: 'Online', offline: 'Offline' }[presence];
    for (const button of li.querySelectorAll('button')) {
      button.setAttribute('aria-label', `${button.dataset.call === 'video' ? 'Video' : 'Audio'} call ${person.name}`);
      button.disabled = Boolean(call);
      button.addEventListener('click', () => startCall(person, button.dataset.call));
    }
    return li;
  }));
}

// A call reaches the history moments after it ends (the server moves it there once it has settled), later on a busy
// server: after a call, the list is fetched until that call is in it, a few times over about 15 s at most.
const HISTORY_RETRY_MS = [500, 1000, 2000, 4000, 8000];

async function refreshHistory(untilSessionId = null, attempt = 0) {
  if (!client) return;
  try {
    const { calls } = await client.getCallLog({ limit: 8 });
    if (untilSessionId && !calls.some(entry => entry.sessionId === untilSessionId) && attempt + 1 < HISTORY_RETRY_MS.length) {
      setTimeout(() => refreshHistory(untilSessionId, attempt + 1), HISTORY_RETRY_MS[attempt + 1]);
    }
    $('history-empty').hidden = calls.length > 0;
    $('history').replaceChildren(...calls.map(entry => {
      const li = document.createElement('li');
      const peer = entry.direction === 'outgoing' ? nameOf(entry.receiverId) : entry.initiator.name;
      const what = entry.missed ? `Missed ${entry.callType} call from ${peer}`
        : `${entry.direction === 'outgoing' ? 'To' : 'From'} ${peer} · ${entry.callType} · ${describeStatus(entry)}`;
      li.innerHTML = '<span></span><time></time>';
      li.firstChild.textContent = what;
      li.firstChild.className = entry.missed ? 'missed' : '';
      li.lastChild.textContent = new Date(entry.initiatedAt * 1000).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
      return li;
    }));
  } catch {
    // History is a nicety; the call itself does not depend on it.
  }
}

function describeStatus(entry) {
  return entry.status === 'ended' && entry.duration !== null ? duration(entry.duration) : entry.status;
}

// ---- calling -------------------------------------------------------------------------------------------------------

async function startCall(person, callType) {
  if (call) return;
  call = { direction: 'out', peerUid: person.uid, peerName: person.name, callType, state: 'outgoing', offerer: true };
  render();
  try {
    call.stream = await getLocalMedia(callType);
    if (!call || call.cancelled) return teardown();
    showLocal();
    const started = await client.initiateCall({ receiverId: person.uid, callType, receiverType: 'user' });
    if (!call) return;
    call.sessionId = started.sessionId;
    if (call.cancelled) return cancel();
    if (started.status === 'ongoing') {
      // Glare: they called this user at the same moment; the two calls became theirs, already accepted.
      call.offerer = started.initiator.uid === me.uid;
      await startMedia(false);
    }
  } catch (error) {
    teardown();
    notify(explain(error, person.name), 'error');
  }
}

function onIncoming(incoming) {
  if (incoming.receiverType !== 'user') return;
  if (call && call.sessionId !== incoming.sessionId) {
    client.rejectCall(incoming.sessionId, 'busy').catch(() => {});
    return;
  }
  call = {
    sessionId: incoming.sessionId, direction: 'in', peerUid: incoming.initiator.uid, peerName: incoming.initiator.name,
    callType: incoming.callType, state: 'incoming', offerer: false,
  };
  render();
}

async function accept() {
  if (call?.state !== 'incoming') return;
  const current = call;
  current.state = 'connecting';
  render();
  try {
    current.stream = await getLocalMedia(current.callType);
    if (call !== current) return stopTracks(current.stream);
    showLocal();
    await client.acceptCall(current.sessionId);
    await startMedia(false);
  } catch (error) {
    if (call === current) {
      if (!(error instanceof CallGrainsError)) client.rejectCall(current.sessionId, 'rejected').catch(() => {});
      teardown();
      notify(explain(error, current.peerName), 'error');
    }
  }
}

async function reject() {
  if (call?.state !== 'incoming') return;
  const { sessionId } = call;
  teardown();
  await client.rejectCall(sessionId, 'rejected').catch(error => notify(explain(error), 'error'));
}

async function cancel() {
  if (!call) return;
  if (!call.sessionId) {
    // initiateCall is still on its way: cancel as soon as there is a session to cancel.
    call.cancelled = true;
    return;
  }
  const { sessionId, peerName } = call;
  teardown();
  try {
    await client.rejectCall(sessionId, 'cancelled');
    notify(`Call to ${peerName} cancelled`);
  } catch (error) {
    notify(explain(error, peerName), 'error');
  }
}

async function hangUp() {
  if (!call?.sessionId) return teardown();
  const { sessionId, since } = call;
  teardown();
  try {
    const ended = await client.endCall(sessionId);
    notify(`Call ended · ${duration(ended.duration ?? (since ? (Date.now() - since) / 1000 : 0))}`);
  } catch (error) {
    notify(explain(error), 'error');
  }
}

// ---- what the server tells -----------------------------------------------------------------------------------------

function isCurrent(c) {
  return call && c && call.sessionId === c.sessionId;
}

async function onAccepted(accepted) {
  if (!isCurrent(accepted) || call.link) return;
  await startMedia(false);
}

function onRejected(rejected) {
  if (!isCurrent(rejected)) return;
  const name = call.peerName;
  teardown();
  notify({
    rejected: `${name} declined the call`,
    busy: `${name} is busy on another call`,
    unanswered: `No answer from ${name}`,
  }[rejected.status] ?? `The call to ${name} did not connect`, 'error');
}

function onCanceled(canceled, detail) {
  if (!isCurrent(canceled)) return;
  const name = call.peerName;
  teardown();
  notify({
    cancelled: `Missed call from ${name} (cancelled)`,
    unanswered: `Missed call from ${name}`,
    answeredElsewhere: 'Answered on another device',
    rejectedElsewhere: 'Declined on another device',
  }[detail?.reason] ?? `The call from ${name} stopped ringing`);
}

function onEnded(ended) {
  if (!isCurrent(ended)) return;
  const name = call.peerName;
  teardown();
  notify(ended.status === 'ended' ? `${name} hung up · ${duration(ended.duration ?? 0)}` : `The call with ${name} ended`);
}

function onSignal({ sessionId, data }) {
  if (call?.sessionId === sessionId && call.link) {
    call.link.handle(data).catch(error => console.warn('callgrains demo: signal failed', error));
    return;
  }
  // The offer can beat this page's own set-up (the camera may still be opening): keep it for a moment.
  const queue = earlySignals.get(sessionId) ?? [];
  if (queue.length < 64) queue.push(data);
  earlySignals.set(sessionId, queue);
}

// ---- media ---------------------------------------------------------------------------------------------------------

async function startMedia(resumed) {
  const current = call;
  if (!current || current.link) return;
  current.state = 'connecting';
  render();
  current.link = new PeerLink({
    client,
    sessionId: current.sessionId,
    peerUid: current.peerUid,
    offerer: current.offerer,
    localStream: current.stream,
    iceServers: [...(me.iceServers ?? []), ...turnServers],
    onRemoteStream: stream => {
      const video = $('remote-video');
      if (video.srcObject !== stream) video.srcObject = stream;
      video.play().catch(() => {});
    },
    onState: state => {
      if (call !== current) return;
      $('call').dataset.pcState = state;
      if (state === 'connected' && current.state !== 'in-call') {
        current.state = 'in-call';
        current.since ??= Date.now();
        render();
      } else if (state === 'failed') {
        notify('The media connection failed: hang up and call again (a TURN server may be needed between these networks).', 'error');
      }
    },
  });
  const early = earlySignals.get(current.sessionId) ?? [];
  earlySignals.delete(current.sessionId);
  await current.link.start(resumed);
  for (const data of early) await current.link.handle(data);
}

function showLocal() {
  $('local-video').srcObject = call?.stream ?? null;
  $('call').dataset.local = call?.stream ? 'on' : 'off';
}

function stopTracks(stream) {
  for (const track of stream?.getTracks() ?? []) track.stop();
}

function teardown() {
  const ended = call?.sessionId ?? null;
  if (call) {
    call.link?.close();
    stopTracks(call.stream);
    earlySignals.delete(call.sessionId);
  }
  call = null;
  $('remote-video').srcObject = null;
  $('local-video').srcObject = null;
  $('call').dataset.local = 'off';
  $('call').dataset.pcState = 'new';
  for (const button of [$('mute'), $('camera')]) button.setAttribute('aria-pressed', 'false');
  render();
  refreshPeople();
  setTimeout(() => refreshHistory(ended), HISTORY_RETRY_MS[0]);
}

function toggleTrack(kind, button) {
  const pressed = button.getAttribute('aria-pressed') !== 'true';
  button.setAttribute('aria-pressed', String(pressed));
  for (const track of call?.stream?.getTracks() ?? []) if (track.kind === kind) track.enabled = !pressed;
}

// ---- drawing -------------------------------------------------------------------------------------------------------

function render() {
  const screen = $('call');
  const state = call?.state ?? 'idle';
  screen.hidden = !call;
  screen.dataset.state = state;
  if (call) {
    screen.dataset.callType = call.callType;
    const kind = call.callType === 'video' ? 'Video call' : 'Audio call';
    $('call-avatar').textContent = initials(call.peerName);
    $('call-title').textContent = {
      outgoing: `Calling ${call.peerName}…`,
      incoming: `${call.peerName} is calling`,
      connecting: `Connecting to ${call.peerName}…`,
      'in-call': call.peerName,
    }[state];
    $('call-subtitle').textContent = state === 'in-call' ? `${kind} · ${duration((Date.now() - call.since) / 1000)}`
      : state === 'outgoing' ? `${kind} · ringing` : kind;
  }
  clearInterval(clockTimer);
  if (state === 'in-call') clockTimer = setInterval(render, 1000);
  for (const button of document.querySelectorAll('[data-call]')) button.disabled = Boolean(call);
  setBodyState();
}

function setBodyState() {
  document.body.dataset.state = !client ? 'signed-out' : call?.state ?? 'idle';
}

function showConnection(state) {
  const pill = $('connection');
  pill.dataset.state = state;
  pill.textContent = { connecting: 'Connecting…', connected: 'Online', reconnecting: 'Reconnecting…', closed: 'Offline' }[state] ?? state;
}

function notify(text, kind = 'info') {
  const notice = $('notice');
  notice.textContent = text;
  notice.dataset.kind = kind;
  notice.hidden = false;
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => { notice.hidden = true; }, 6000);
}

function explain(error, name = 'They') {
  if (!(error instanceof CallGrainsError)) return error?.message ?? String(error);
  return {
    ERR_CALL_BUSY: `${name} is busy on another call`,
    ERR_UID_NOT_FOUND: `${name} is not a user here`,
    ERR_CALLING_SELF: 'You cannot call yourself',
    ERROR_CALL_IN_PROGRESS: 'You are already in a call',
    ERR_CALL_ALREADY_INITIATED: 'You are already calling someone',
    ERR_CALL_CANCELLED: `${name} cancelled the call`,
    ERR_CALL_UNANSWERED: 'The call was not answered in time',
    ERR_CALL_ENDED: 'The call has already ended',
    ERR_CALL_ALREADY_JOINED: 'The call was answered on another device',
    ERR_NOT_CONNECTED: 'Not connected to the server; reconnecting…',
    ERR_TIMEOUT: 'The server did not answer in time',
    ERR_TOO_MANY_REQUESTS: 'Too many requests; wait a moment',
  }[error.code] ?? `${error.message} (${error.code})`;
}

function nameOf(uid) {
  return people.get(uid)?.name ?? uid;
}

function initials(name) {
  return name.split(/\s+/).filter(Boolean).slice(0, 2).map(w => [...w][0]).join('') || '?';
}

function duration(seconds) {
  const s = Math.max(0, Math.round(seconds));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

// ---- wiring --------------------------------------------------------------------------------------------------------

$('signin-form').addEventListener('submit', async event => {
  event.preventDefault();
  const error = $('signin-error');
  const button = $('signin-button');
  error.hidden = true;
  button.disabled = true;
  try {
    await connect(await signIn($('name').value));
  } catch (failure) {
    error.textContent = failure.message;
    error.hidden = false;
  } finally {
    button.disabled = false;
  }
});
$('signout').addEventListener('click', signOut);
$('accept').addEventListener('click', accept);
$('reject').addEventListener('click', reject);
$('cancel').addEventListener('click', cancel);
$('hangup').addEventListener('click', hangUp);
$('mute').addEventListener('click', event => toggleTrack('audio', event.currentTarget));
$('camera').addEventListener('click', event => toggleTrack('video', event.currentTarget));

const saved = sessionStorage.getItem(SESSION_KEY);
if (saved) {
  connect(JSON.parse(saved)).catch(() => {
    sessionStorage.removeItem(SESSION_KEY);
    $('signin-error').textContent = 'Your session has expired: sign in again.';
    $('signin-error').hidden = false;
  });
}

// For tests and curious developers: the page's client and call.
window.callgrainsDemo = { get client() { return client; }, get call() { return call; } };
