// One RTCPeerConnection per call, its offer, answer and ICE candidates carried by the client's sendSignal (the
// protocol's `signal` op). The call's initiator offers; the other side answers. Signal data:
//   {type:'offer'|'answer', sdp}   {type:'candidate', candidate:{candidate, sdpMid, sdpMLineIndex, ...}}
//   {type:'restart'}  the other side lost its connection (a reloaded page): the initiator starts over with a new offer.

/** Camera and microphone for a call type; rejects with a readable message when the browser refuses. */
export async function getLocalMedia(callType) {
  if (!navigator.mediaDevices?.getUserMedia) {
    throw new Error('This browser cannot use a camera or microphone here (it needs https or localhost).');
  }
  try {
    return await navigator.mediaDevices.getUserMedia({ audio: true, video: callType === 'video' });
  } catch (error) {
    const what = callType === 'video' ? 'camera and microphone' : 'microphone';
    throw new Error(error?.name === 'NotAllowedError'
      ? `The browser did not allow the ${what}: allow it for this page and try again.`
      : `Could not open the ${what} (${error?.name ?? error}).`);
  }
}

export class PeerLink {
  /**
   * @param {object} options
   * @param {import('/js/callgrains.js').CallGrainsClient} options.client
   * @param {string} options.sessionId
   * @param {string} options.peerUid the other participant
   * @param {boolean} options.offerer true for the call's initiator
   * @param {MediaStream} options.localStream
   * @param {RTCIceServer[]} options.iceServers
   * @param {(stream: MediaStream) => void} options.onRemoteStream
   * @param {(state: string) => void} options.onState RTCPeerConnection.connectionState as it changes
   */
  constructor(options) {
    this._o = options;
    this._pc = null;
    this._pendingCandidates = [];
    this._closed = false;
  }

  /** The offerer sends its offer; the answerer asks the offerer to start over (it may have missed the offer). */
  async start(resumed = false) {
    if (this._o.offerer) await this._offer();
    else if (resumed) await this._send({ type: 'restart' });
  }

  /** A `signal` from the peer. */
  async handle(data) {
    if (this._closed || !data?.type) return;
    switch (data.type) {
      case 'offer': {
        // A new offer (first, or after the offerer started over) always gets a fresh connection.
        const pc = this._newConnection();
        await pc.setRemoteDescription({ type: 'offer', sdp: data.sdp });
        await this._flushCandidates();
        await pc.setLocalDescription(await pc.createAnswer());
        await this._send({ type: 'answer', sdp: pc.localDescription.sdp });
        break;
      }
      case 'answer':
        if (this._pc?.signalingState === 'have-local-offer') {
          await this._pc.setRemoteDescription({ type: 'answer', sdp: data.sdp });
          await this._flushCandidates();
        }
        break;
      case 'candidate':
        this._pendingCandidates.push(data.candidate);
        if (this._pc?.remoteDescription) await this._flushCandidates();
        break;
      case 'restart':
        if (this._o.offerer) await this._offer();
        break;
    }
  }

  close() {
    this._closed = true;
    this._pc?.close();
    this._pc = null;
  }

  async _offer() {
    const pc = this._newConnection();
    await pc.setLocalDescription(await pc.createOffer());
    await this._send({ type: 'offer', sdp: pc.localDescription.sdp });
  }

  _newConnection() {
    this._pc?.close();
    const pc = new RTCPeerConnection({ iceServers: this._o.iceServers ?? [] });
    this._pc = pc;
    for (const track of this._o.localStream.getTracks()) pc.addTrack(track, this._o.localStream);
    pc.onicecandidate = event => {
      if (event.candidate && pc === this._pc) this._send({ type: 'candidate', candidate: event.candidate.toJSON() });
    };
    pc.ontrack = event => {
      if (pc === this._pc) this._o.onRemoteStream(event.streams[0] ?? new MediaStream([event.track]));
    };
    pc.onconnectionstatechange = () => {
      if (pc === this._pc) this._o.onState(pc.connectionState);
    };
    this._o.onState(pc.connectionState);
    return pc;
  }

  async _flushCandidates() {
    const candidates = this._pendingCandidates;
    this._pendingCandidates = [];
    for (const candidate of candidates) {
      try {
        await this._pc.addIceCandidate(candidate);
      } catch (error) {
        console.warn('callgrains demo: a remote ICE candidate was refused', error);
      }
    }
  }

  async _send(data) {
    if (this._closed) return;
    try {
      await this._o.client.sendSignal(this._o.sessionId, this._o.peerUid, data);
    } catch (error) {
      console.warn(`callgrains demo: could not send ${data.type}`, error);
    }
  }
}
