// Wiring only: the page's parts live in their own modules.

import { Signaling } from './signaling.js';
import { Peer } from './peer.js';
import { InputCapture } from './input.js';
import { ClipboardBridge } from './clipboard.js';
import { SettingsPanel } from './settings.js';
import { Gamepads } from './gamepad.js';
import { TouchGestures, SoftKeyboard } from './touch.js';
import { View } from './view.js';
import { StatsSampler, formatStats, overlaySections, playbackMessage } from './stats.js';
import { PathMeter, pathMessage } from './path.js';
import { Sound } from './sound.js';
import {
  secretFromFragment, secureContextProblem, importSecret, sdpFingerprint, nonce, hostProofOk, viewerProof, DENIED,
} from './pairing.js';

const view = new View(document);
const room = new URLSearchParams(location.search).get('room');

if (!room) {
  view.showJoin((url) => { location.href = url; });
} else {
  run(room, secretFromFragment(location.hash));
}

function run(room, secretText) {
  view.showStage(room);
  // Without the link's secret, or without WebCrypto, no host will let this page in: say why
  // and do not even connect.
  const problem = !secretText ? DENIED.no_key : secureContextProblem(window);
  if (problem) {
    view.setStatus(problem, 'error');
    window.peerdesk = { room, get status() { return view.statusText.textContent; } };
    return;
  }
  const secretReady = importSecret(secretText);
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  let peer = null;
  let hostPresent = false;
  let retryTimer = null;
  let fatal = false;
  // What the host said this page may do ({role, may_control, peer}), once it proved its link.
  let role = null;
  // The STUN and TURN servers the signaling server handed out, and its ICE policy.
  let ice = { servers: [], policy: null };

  // The page sends input only while it controls; the host enforces the same on its side.
  const input = new InputCapture(view.video, (ev) => (peer && role?.role === 'control' ? peer.sendInput(ev) : false));
  view.lock.addEventListener('click', (e) => {
    e.stopPropagation();
    input.lockPointer();
    // Keys go to the remote desktop again, not to the button.
    view.stage.focus();
  });
  const sound = new Sound(view.video, view.soundControls);
  // The host's own figures (its `stats` message each second), shown beside the browser's.
  let hostStats = null;
  // When the host last sent anything on the data channels, and the check after host_offline.
  let lastFromHost = 0;
  let aliveTimer = null;
  let restartTimer = null;
  let watchdog = null;
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
  // Fullscreen takes the keyboard (Keyboard Lock): Escape, Alt+Tab and the system keys go to
  // the host. Ctrl+Alt+Shift+Q always gets out (fullscreen, keyboard and pointer lock).
  let keyboardLocked = false;
  async function enterFullscreen() {
    try {
      await view.stage.requestFullscreen();
    } catch {
      return;
    }
    try {
      await navigator.keyboard.lock();
      keyboardLocked = true;
    } catch (e) {
      keyboardLocked = false;
      console.info(`peerdesk: no keyboard lock in this browser (${e.message}); the browser keeps Escape`);
    }
    flash(keyboardLocked
      ? 'Fullscreen: every key goes to the host. Ctrl+Alt+Shift+Q leaves.'
      : 'Fullscreen. Ctrl+Alt+Shift+Q or Escape leaves.');
  }
  function leaveFullscreen() {
    input.releaseAll();
    navigator.keyboard?.unlock();
    keyboardLocked = false;
    if (document.pointerLockElement) document.exitPointerLock();
    if (document.fullscreenElement) document.exitFullscreen().catch(() => {});
  }
  document.addEventListener('fullscreenchange', () => {
    if (document.fullscreenElement) return;
    navigator.keyboard?.unlock();
    keyboardLocked = false;
  });
  view.onFullscreen = () => (document.fullscreenElement ? leaveFullscreen() : enterFullscreen());
  // The host's screen cannot be captured for now (a Windows lock screen or UAC prompt): the
  // picture stands still, and the page says why until the host says it is back.
  let awayText = null;
  function screenAway(why) {
    if (typeof why === 'string' && why) {
      awayText = why.slice(0, 400);
      view.setStatus(awayText, 'info');
    } else if (awayText !== null) {
      if (view.statusText.textContent === awayText) view.setStatus('', null);
      awayText = null;
    }
  }
  /** A status line that clears itself after a few seconds unless something else replaced it. */
  function flash(text, kind = 'info') {
    view.setStatus(text, kind);
    setTimeout(() => { if (view.statusText.textContent === text) view.setStatus('', null); }, kind === 'error' ? 8000 : 3000);
  }
  // Copy and paste across: the host's copies land on this machine's clipboard, a paste here
  // sends this machine's clipboard to the host first. Controllers only.
  const clipboard = new ClipboardBridge({
    send: (m) => (peer && role?.role === 'control' ? peer.sendMessage(m) : false),
    notify: flash,
  });
  input.beforePaste = (text) => clipboard.beforePaste(text);
  // Touch screens: gestures for the mouse and wheel, a pinch zooms here, a keyboard button.
  const sendControl = (ev) => (peer && role?.role === 'control' ? peer.sendInput(ev) : false);
  const touch = new TouchGestures(view.video, sendControl);
  touch.onZoom = () => view.placeCursor();
  const keyboardButton = document.getElementById('keyboard');
  new SoftKeyboard(keyboardButton, document.getElementById('soft-keyboard'), sendControl);
  keyboardButton.hidden = !(navigator.maxTouchPoints > 0 || matchMedia('(pointer: coarse)').matches);
  // Gamepads reach the host while this page controls.
  const pads = new Gamepads({ send: (ev) => (peer && role?.role === 'control' ? peer.sendInput(ev) : false) });
  // The settings panel: the stream's size, frame rate and bitrate, sound, the overlay.
  const settings = new SettingsPanel(document, {
    send: (m) => (peer ? peer.sendMessage(m) : false),
    toggleOverlay,
    overlayShown: () => view.overlayShown,
    onClose: () => view.stage.focus(),
  });
  input.hotkeys = { KeyS: toggleOverlay, KeyF: () => view.onFullscreen(), KeyQ: leaveFullscreen, KeyO: () => settings.toggle() };
  // Frames put on screen, counted as the browser presents them (where it can tell).
  // Each frame's arrival also tells the host of a queue on the path (path.js).
  let presented = null;
  const path = new PathMeter();
  const tellPath = async (queueMs) => {
    const receiver = peer?.pc.getReceivers().find((r) => r.track?.kind === 'video');
    let kbps = null;
    try {
      const report = receiver ? await receiver.getStats() : null;
      report?.forEach((s) => {
        if (s.type === 'inbound-rtp' && s.kind === 'video') kbps = path.received(s.timestamp, s.bytesReceived);
      });
    } catch {
      // A connection closing under us: the figure goes without the rate.
    }
    peer?.sendMessage(pathMessage(queueMs, kbps));
  };
  if (typeof view.video.requestVideoFrameCallback === 'function') {
    presented = 0;
    const onFrame = (now, meta) => {
      presented += 1;
      const queue = peer ? path.frame(meta?.receiveTime, meta?.rtpTimestamp, performance.now()) : null;
      if (queue !== null) tellPath(queue);
      view.video.requestVideoFrameCallback(onFrame);
    };
    view.video.requestVideoFrameCallback(onFrame);
  }
  const stats = new StatsSampler(() => peer?.pc, (s) => {
    lastSample = s;
    view.setStats(formatStats(s));
    renderOverlay();
    // The host tells a browser that cannot show every frame from a slow network or encoder.
    const playback = playbackMessage(s);
    if (peer && playback) peer.sendMessage(playback);
  }, () => presented);
  const signaling = new Signaling(`${scheme}//${location.host}/ws`, room, { onMessage, onState });

  // For people debugging in the console, and for the end-to-end tests.
  window.peerdesk = {
    room,
    get pc() { return peer?.pc ?? null; },
    get status() { return view.statusText.textContent; },
    get stream() { return view.video.srcObject; },
    get hostStats() { return hostStats; },
    get role() { return role; },
    get fullscreen() { return !!document.fullscreenElement; },
    get keyboardLocked() { return keyboardLocked; },
    // How far a pinch zoomed the picture here ({scale, x, y}).
    get zoom() { return { ...touch.zoom }; },
    // The rumbles the host sent, as played.
    get rumbles() { return pads.rumbles.slice(); },
    // The choices made here and what the host said of its stream.
    get settings() { return { choices: { ...settings.choices }, host: settings.limits }; },
    // The host's copy waiting for a gesture, and the text last crossed either way.
    get clipboard() { return { pending: clipboard.pending, last: clipboard.last }; },
    // The raw data channels, for people debugging (and for the tests of a hostile page).
    get channels() { return peer ? { input: peer.reliable, motion: peer.motion } : null; },
  };

  view.video.addEventListener('playing', () => { if (peer) view.setStatus('', null); });
  signaling.start();

  // Media never passes through the server: a connection to the host outlives it.
  function streaming() {
    return peer?.pc.connectionState === 'connected';
  }

  function onState(state, detail) {
    if (fatal) return;
    if (streaming()) {
      // The stream goes on; the signaling reconnects by itself in the background.
      if (state === 'down') console.info(`peerdesk: signaling server: ${detail}; the stream goes on`);
      return;
    }
    if (state === 'connecting') view.setStatus('Connecting to the server…');
    if (state === 'down') {
      closePeer();
      view.setStatus(detail, 'error');
    }
  }

  function onMessage(m) {
    switch (m.type) {
      case 'joined':
        ice = { servers: Array.isArray(m.ice_servers) ? m.ice_servers : [], policy: m.ice_policy ?? null };
        hostPresent = m.host_present;
        // Back on a restarted server while still streaming: keep the stream.
        if (hostPresent && !streaming()) connectPeer();
        else if (!hostPresent && !streaming()) view.setStatus(`Waiting for the host of room “${room}” to come online…`);
        break;
      case 'host_online':
        hostPresent = true;
        if (!streaming()) connectPeer();
        break;
      case 'host_offline':
        hostPresent = false;
        // The host's link to the server went: if the host still speaks (its figures come every
        // second), only its server died and the stream goes on.
        if (streaming()) {
          checkHostAlive();
          return;
        }
        closePeer();
        view.setStatus('The host went away. Waiting for it to come back…');
        break;
      case 'answer':
        if (peer) onAnswer(peer, m);
        break;
      case 'offer':
        if (peer) onRestart(peer, m);
        break;
      case 'deny':
        onDenied(m);
        break;
      case 'candidate':
        peer?.addCandidate(m.candidate, m.mid);
        break;
      case 'error':
        if (['room_full', 'invalid_room', 'unsupported_version', 'too_many_rooms'].includes(m.code)) {
          fatal = true;
          signaling.stop();
        } else if (m.code === 'unavailable') {
          // The server cannot reach its shared state for now: join again shortly.
          signaling.retry();
          if (streaming()) return;
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
    let p;
    try {
      p = makePeer();
    } catch (e) {
      failed(`Could not start WebRTC with the server's ICE settings: ${e.message}`);
      return;
    }
    peer = p;
    try {
      const secret = await secretReady;
      const sdp = await p.createOffer();
      p.handshake = { secret, room, key: secret.id, viewerNonce: nonce(), viewerFingerprint: sdpFingerprint(sdp) };
      if (peer === p) signaling.send({ type: 'offer', sdp, auth: { key: secret.id, nonce: p.handshake.viewerNonce } });
    } catch (e) {
      failed(`Could not start WebRTC in this browser: ${e.message}`);
    }
  }

  function makePeer() {
    const p = new Peer({
      onTrack: (stream) => {
        // Audio and video arrive as two tracks of one stream.
        if (view.video.srcObject !== stream) view.video.srcObject = stream;
        sound.setStream(stream);
      },
      onState: (s) => onPeerState(p, s),
      onCandidate: (c) => signaling.send({ type: 'candidate', candidate: c.candidate, mid: c.sdpMid ?? undefined }),
      onMessage: (m) => {
        if (p === peer) lastFromHost = performance.now();
        if (m.type === 'role') setRole(m);
        else if (m.type === 'cursor') view.setCursor(m);
        else if (m.type === 'cursor_position') view.setCursorPosition(m);
        else if (m.type === 'stats') hostStats = m;
        else if (m.type === 'clipboard') clipboard.fromHost(m.text);
        else if (m.type === 'settings') settings.fromHost(m);
        else if (m.type === 'rumble') pads.rumble(m);
        else if (m.type === 'screen') screenAway(m.away);
      },
    }, ice.servers, ice.policy);
    return p;
  }

  // The host's answer is applied only when its proof covers this page's fingerprint and its
  // own: otherwise someone between the two (the signaling server) changed the session.
  async function onAnswer(p, m) {
    // The answer to our ICE restart: the same session, so the same fingerprint.
    if (p.restarting) {
      p.restarting = false;
      const current = p.pc.remoteDescription?.sdp;
      if (typeof m.sdp !== 'string' || !current || sdpFingerprint(m.sdp) !== sdpFingerprint(current)) {
        console.warn('peerdesk: ignoring an answer that does not continue this session');
        return;
      }
      try {
        await p.acceptAnswer(m.sdp);
      } catch (e) {
        console.warn('peerdesk: the ICE restart failed', e);
      }
      return;
    }
    const hs = p.handshake;
    if (!hs) return;
    let ok = false;
    try {
      const h = { ...hs, hostNonce: m.auth?.nonce, hostFingerprint: sdpFingerprint(m.sdp) };
      ok = typeof m.auth?.mac === 'string' && typeof h.hostNonce === 'string' && await hostProofOk(hs.secret, h, m.auth.mac);
      if (ok) {
        if (peer !== p) return;
        await p.acceptAnswer(m.sdp);
        p.proved = true;
        watchHost(p);
        signaling.send({ type: 'proof', mac: await viewerProof(hs.secret, h) });
        return;
      }
    } catch (e) {
      if (ok) {
        failed(`The host's answer was not usable: ${e.message}`);
        return;
      }
    }
    signaling.send({ type: 'deny', code: 'host_proof_mismatch', message: '' });
    stopFor('The host could not prove it holds this link’s key: the signaling server may be tampering with the connection, or the link belongs to another host. Not connected.');
  }

  // The host's network changed: it offers new ICE details for the same session. Only for a
  // host that proved itself, with the same DTLS fingerprint: a new path for a session that
  // stays encrypted end to end, so whoever relays the offer cannot take it over.
  async function onRestart(p, m) {
    const current = p.pc.remoteDescription?.sdp;
    if (!p.proved || !current || typeof m.sdp !== 'string' || sdpFingerprint(m.sdp) !== sdpFingerprint(current)) {
      console.warn('peerdesk: ignoring an offer that does not continue this session');
      return;
    }
    p.restartedAt = performance.now();
    p.restarting = false;
    try {
      const sdp = await p.acceptRestart(m.sdp);
      if (peer === p) signaling.send({ type: 'answer', sdp });
      console.info('peerdesk: the host moved to another network; the connection follows');
    } catch (e) {
      console.warn('peerdesk: the host\'s ICE restart failed', e);
    }
  }

  function onDenied(m) {
    const again = ['timeout', 'replayed'].includes(m.code);
    const text = DENIED[m.code] || 'The host refused this page.';
    if (again) {
      failed(text);
    } else {
      stopFor(text);
    }
  }

  /** Ends this page's attempts: the user has to act (a new link, a reload). */
  function stopFor(text) {
    fatal = true;
    closePeer();
    signaling.stop();
    view.setStatus(text, 'error');
  }

  function setRole(m) {
    if (!['control', 'view'].includes(m.role)) return;
    role = { role: m.role, may_control: !!m.may_control, peer: m.peer };
    view.setRole(role);
    clipboard.setEnabled(role.role === 'control');
    pads.setEnabled(role.role === 'control');
    touch.setEnabled(role.role === 'control');
    settings.setRole(role);
    // This browser's choices, again on every connection (the host starts from its own).
    settings.send();
    input.setEnabled(role.role === 'control' && peer?.pc.connectionState === 'connected');
  }

  function onPeerState(p, state) {
    if (p !== peer) return;
    if (state === 'connected') {
      clearTimeout(restartTimer);
      input.setEnabled(role?.role === 'control');
      if (!view.video.paused) view.setStatus('', null);
      else view.setStatus('Connected. Waiting for the first picture…');
    } else if (state === 'disconnected') {
      input.setEnabled(false);
      view.setStatus('Connection to the host interrupted; trying to recover…');
      // Still cut off in 2 s (this browser's network changed?): new ICE details for the
      // same session, before giving up on it.
      clearTimeout(restartTimer);
      restartTimer = setTimeout(() => restartIce(p), 2000);
    } else if (state === 'failed') {
      failed('Connection to the host failed.');
    }
  }

  // The host speaks every second (its figures): five silent seconds on a connection that says
  // it is up mean the path is gone (Chromium may keep saying "connected" for long after this
  // machine's address went away): restart ICE.
  function watchHost(p) {
    clearInterval(watchdog);
    watchdog = setInterval(() => {
      if (peer !== p || !p.proved || p.restarting) return;
      if (performance.now() - Math.max(lastFromHost, p.restartedAt || 0) > 5000) restartIce(p);
    }, 1000);
  }

  async function restartIce(p) {
    if (p !== peer || !p.proved || p.restarting) return;
    p.restartedAt = performance.now();
    try {
      p.restarting = true;
      // No answer in 10 s: the next silence may try again.
      setTimeout(() => { p.restarting = false; }, 10000);
      const sdp = await p.offerRestart();
      if (peer === p) signaling.send({ type: 'offer', sdp });
      console.info('peerdesk: restarting ICE');
    } catch (e) {
      p.restarting = false;
      console.warn('peerdesk: cannot restart ICE', e);
    }
  }

  /** After `host_offline` with a stream up: ends it unless the host still speaks. */
  function checkHostAlive() {
    clearTimeout(aliveTimer);
    const since = performance.now();
    aliveTimer = setTimeout(() => {
      if (!streaming()) return;
      if (lastFromHost > since) {
        console.info('peerdesk: the host lost its signaling server but still streams');
        return;
      }
      closePeer();
      // A host back already (a restart) gets a new connection; else wait for it.
      if (hostPresent) connectPeer();
      else view.setStatus('The host went away. Waiting for it to come back…');
    }, 2500);
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
    clearInterval(watchdog);
    clearTimeout(restartTimer);
    clearTimeout(aliveTimer);
    input.setEnabled(false);
    pads.setEnabled(false);
    touch.setEnabled(false);
    clipboard.setEnabled(false);
    if (peer) {
      peer.close();
      peer = null;
    }
    view.video.srcObject = null;
    sound.setStream(null);
    hostStats = null;
    role = null;
    view.setRole(null);
    view.setStats('');
    view.setCursor(null);
  }

  window.addEventListener('pagehide', () => { stats.stop(); signaling.stop(); closePeer(); });
}
