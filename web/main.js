// Wiring only: the page's parts live in their own modules.

import { Signaling } from './signaling.js';
import { Peer } from './peer.js';
import { InputCapture } from './input.js';
import { View } from './view.js';
import { StatsSampler, formatStats, overlaySections } from './stats.js';
import { Sound } from './sound.js';

const view = new View(document);
const room = new URLSearchParams(location.search).get('room');

if (!room) {
  view.showJoin((name) => { location.search = `?room=${encodeURIComponent(name)}`; });
} else {
  run(room);
}

function run(room) {
  view.showStage(room);
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  let peer = null;
  let hostPresent = false;
  let retryTimer = null;
  let fatal = false;

  const input = new InputCapture(view.video, (ev) => (peer ? peer.sendInput(ev) : false));
  view.lock.addEventListener('click', (e) => {
    e.stopPropagation();
    input.lockPointer();
    // Keys go to the remote desktop again, not to the button.
    view.stage.focus();
  });
  const sound = new Sound(view.video, view.soundControls);
  // The host's own figures (its `stats` message each second), shown beside the browser's.
  let hostStats = null;
  let lastSample = null;
  const OVERLAY_KEY = 'peerdesk.overlay';
  const renderOverlay = () => { if (view.overlayShown && lastSample) view.setOverlay(overlaySections(lastSample, hostStats)); };
  const toggleOverlay = () => {
    view.showOverlay(!view.overlayShown);
    try { localStorage.setItem(OVERLAY_KEY, view.overlayShown ? '1' : '0'); } catch { /* not remembered */ }
    renderOverlay();
  };
  try { view.showOverlay(localStorage.getItem(OVERLAY_KEY) === '1'); } catch { /* default: hidden */ }
  view.statsToggle.addEventListener('click', (e) => {
    e.stopPropagation();
    toggleOverlay();
    view.stage.focus();
  });
  input.hotkeys = { KeyS: toggleOverlay };
  const stats = new StatsSampler(() => peer?.pc, (s) => {
    lastSample = s;
    view.setStats(formatStats(s));
    renderOverlay();
  });
  const signaling = new Signaling(`${scheme}//${location.host}/ws`, room, { onMessage, onState });

  // For people debugging in the console, and for the end-to-end tests.
  window.peerdesk = {
    room,
    get pc() { return peer?.pc ?? null; },
    get status() { return view.statusText.textContent; },
    get stream() { return view.video.srcObject; },
    get hostStats() { return hostStats; },
  };

  view.video.addEventListener('playing', () => { if (peer) view.setStatus('', null); });
  signaling.start();

  function onState(state, detail) {
    if (fatal) return;
    if (state === 'connecting') view.setStatus('Connecting to the server…');
    if (state === 'down') {
      closePeer();
      view.setStatus(detail, 'error');
    }
  }

  function onMessage(m) {
    switch (m.type) {
      case 'joined':
        hostPresent = m.host_present;
        if (hostPresent) connectPeer();
        else view.setStatus(`Waiting for the host of room “${room}” to come online…`);
        break;
      case 'host_online':
        hostPresent = true;
        connectPeer();
        break;
      case 'host_offline':
        hostPresent = false;
        closePeer();
        view.setStatus('The host went away. Waiting for it to come back…');
        break;
      case 'answer':
        peer?.acceptAnswer(m.sdp).catch((e) => failed(`The host's answer was not usable: ${e.message}`));
        break;
      case 'candidate':
        peer?.addCandidate(m.candidate, m.mid);
        break;
      case 'error':
        if (['room_full', 'invalid_room', 'unsupported_version', 'too_many_rooms'].includes(m.code)) {
          fatal = true;
          signaling.stop();
        }
        view.setStatus(`The server refused: ${m.message}`, 'error');
        break;
      default:
        break;
    }
  }

  async function connectPeer() {
    closePeer();
    view.setStatus('Connecting to the host…');
    const p = new Peer({
      onTrack: (stream) => {
        // Audio and video arrive as two tracks of one stream.
        if (view.video.srcObject !== stream) view.video.srcObject = stream;
        sound.setStream(stream);
      },
      onState: (s) => onPeerState(p, s),
      onCandidate: (c) => signaling.send({ type: 'candidate', candidate: c.candidate, mid: c.sdpMid ?? undefined }),
      onMessage: (m) => {
        if (m.type === 'cursor') view.setCursor(m);
        else if (m.type === 'cursor_position') view.setCursorPosition(m);
        else if (m.type === 'stats') hostStats = m;
      },
    });
    peer = p;
    try {
      const sdp = await p.createOffer();
      if (peer === p) signaling.send({ type: 'offer', sdp });
    } catch (e) {
      failed(`Could not start WebRTC in this browser: ${e.message}`);
    }
  }

  function onPeerState(p, state) {
    if (p !== peer) return;
    if (state === 'connected') {
      input.setEnabled(true);
      if (!view.video.paused) view.setStatus('', null);
      else view.setStatus('Connected. Waiting for the first picture…');
    } else if (state === 'disconnected') {
      input.setEnabled(false);
      view.setStatus('Connection to the host interrupted; trying to recover…');
    } else if (state === 'failed') {
      failed('Connection to the host failed.');
    }
  }

  function failed(text) {
    closePeer();
    if (!hostPresent) return;
    view.setStatus(`${text} Retrying…`, 'error');
    clearTimeout(retryTimer);
    retryTimer = setTimeout(() => { if (hostPresent && !peer) connectPeer(); }, 2000);
  }

  function closePeer() {
    clearTimeout(retryTimer);
    input.setEnabled(false);
    if (peer) {
      peer.close();
      peer = null;
    }
    view.video.srcObject = null;
    sound.setStream(null);
    hostStats = null;
    view.setStats('');
    view.setCursor(null);
  }

  window.addEventListener('pagehide', () => { stats.stop(); signaling.stop(); closePeer(); });
}
