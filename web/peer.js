// One WebRTC connection to the host: offers receive-only video and audio and the two input channels,
// applies the host's answer, and sends encoded input events on the right channel.

import { encodeInput, needsReliable } from './protocol.js';

export class Peer {
  /**
   * @param {{onTrack: (s: MediaStream) => void, onState: (s: string) => void,
   *          onCandidate: (c: RTCIceCandidate) => void, onMessage?: (m: object) => void}} handlers
   */
  constructor(handlers, iceServers = [], icePolicy = null) {
    this.handlers = handlers;
    // `relay`: TURN only (the server's --ice-policy relay); otherwise any path, direct first.
    const iceTransportPolicy = icePolicy === 'relay' ? 'relay' : 'all';
    this.pc = new RTCPeerConnection({ iceServers, iceTransportPolicy, bundlePolicy: 'max-bundle' });
    const video = this.pc.addTransceiver('video', { direction: 'recvonly' });
    this.chooseCodecs(video);
    // The host's sound (Opus); a host without sound leaves it silent.
    const audio = this.pc.addTransceiver('audio', { direction: 'recvonly' });
    // Play as soon as possible: no extra buffering on top of what the network needs.
    for (const t of [video, audio]) {
      if ('jitterBufferTarget' in t.receiver) t.receiver.jitterBufferTarget = 0;
    }
    // Keys and buttons: reliable and ordered (a lost key-up is a stuck key).
    this.reliable = this.pc.createDataChannel('input', { ordered: true });
    // Motion and wheel: latest wins, never retransmitted.
    this.motion = this.pc.createDataChannel('motion', { ordered: false, maxRetransmits: 0 });
    for (const ch of [this.reliable, this.motion]) ch.binaryType = 'arraybuffer';
    this.reliable.onmessage = (e) => {
      if (typeof e.data !== 'string' || !this.handlers.onMessage) return;
      try {
        this.handlers.onMessage(JSON.parse(e.data));
      } catch {
        console.warn('peerdesk: host sent a control message that is not JSON');
      }
    };
    this.pc.ontrack = (e) => this.handlers.onTrack(e.streams[0] || new MediaStream([e.track]));
    this.pc.onicecandidate = (e) => { if (e.candidate) this.handlers.onCandidate(e.candidate); };
    this.pc.onconnectionstatechange = () => this.handlers.onState(this.pc.connectionState);
  }

  // Offers what the host can send and this browser decodes: H.264 Constrained Baseline, and AV1
  // (main profile) where the browser has it; the host picks (AV1 when it encodes AV1).
  chooseCodecs(transceiver) {
    if (!RTCRtpReceiver.getCapabilities || !transceiver.setCodecPreferences) return;
    const codecs = RTCRtpReceiver.getCapabilities('video')?.codecs || [];
    const h264 = codecs.filter((c) => c.mimeType === 'video/H264' &&
      /packetization-mode=1/.test(c.sdpFmtpLine || '') && /profile-level-id=42e01f|profile-level-id=42001f/.test(c.sdpFmtpLine || ''));
    const av1 = codecs.filter((c) => c.mimeType === 'video/AV1' && !/profile=[12]/.test(c.sdpFmtpLine || ''));
    // Keep retransmission (RTX): without it a lost packet costs a keyframe instead of a resend.
    const rtx = codecs.filter((c) => c.mimeType === 'video/rtx');
    if (h264.length || av1.length) transceiver.setCodecPreferences([...h264, ...av1, ...rtx]);
  }

  async createOffer() {
    const offer = await this.pc.createOffer();
    await this.pc.setLocalDescription(offer);
    return this.pc.localDescription.sdp;
  }

  async acceptAnswer(sdp) {
    await this.pc.setRemoteDescription({ type: 'answer', sdp });
  }

  /** An offer restarting ICE on this connection (this browser's network changed). */
  async offerRestart() {
    await this.pc.setLocalDescription(await this.pc.createOffer({ iceRestart: true }));
    return this.pc.localDescription.sdp;
  }

  /** The host's ICE restart offer (its network changed): applies it, returns our answer. */
  async acceptRestart(sdp) {
    await this.pc.setRemoteDescription({ type: 'offer', sdp });
    await this.pc.setLocalDescription(await this.pc.createAnswer());
    return this.pc.localDescription.sdp;
  }

  async addCandidate(candidate, mid) {
    try {
      await this.pc.addIceCandidate({ candidate, sdpMid: mid ?? '0' });
    } catch (e) {
      console.warn('peerdesk: ignoring a bad ICE candidate from the host', e);
    }
  }

  /** Sends one input event; returns false when the channel is not open. */
  sendInput(ev) {
    const ch = needsReliable(ev) ? this.reliable : this.motion;
    if (ch.readyState !== 'open') return false;
    // Latest wins for motion: skip while the channel is backed up rather than queue.
    if (!needsReliable(ev) && ch.bufferedAmount > 4096) return false;
    ch.send(encodeInput(ev));
    return true;
  }

  /** Sends a JSON message to the host on the reliable channel; false when it is not open. */
  sendMessage(m) {
    if (this.reliable.readyState !== 'open') return false;
    this.reliable.send(JSON.stringify(m));
    return true;
  }

  close() {
    this.pc.close();
  }
}
