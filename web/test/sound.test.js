// The sound control's states, with stand-ins for the video element and the page: muted until
// the browser allows sound, a clear "Click for sound" until then, the user's mute and volume
// remembered, and a disabled control when the host sends no sound.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Sound } from '../sound.js';

function button() {
  const b = new EventTarget();
  b.dataset = {};
  b.attrs = {};
  b.setAttribute = (k, v) => { b.attrs[k] = v; };
  b.disabled = false;
  b.title = '';
  return b;
}

function page({ allowed }) {
  const video = {
    muted: false,
    volume: 1,
    parentElement: null,
    allowed,
    play() { return this.allowed || this.muted ? Promise.resolve() : Promise.reject(new Error('NotAllowedError')); },
  };
  const volume = new EventTarget();
  volume.value = '100';
  volume.disabled = false;
  const controls = { button: button(), label: { textContent: '', hidden: true }, volume };
  const store = new Map();
  const storage = { getItem: (k) => store.get(k) ?? null, setItem: (k, v) => store.set(k, v) };
  return { video, controls, storage, store, win: new EventTarget() };
}

const withAudio = { getAudioTracks: () => [{}] };
const flush = () => new Promise((r) => setTimeout(r, 0));

test('muted until a gesture: "Click for sound" shows, the first click turns sound on', async () => {
  const p = page({ allowed: false });
  const sound = new Sound(p.video, p.controls, p.storage, p.win);
  sound.setStream(withAudio);
  await flush();
  assert.equal(p.video.muted, true, 'the browser refused sound without a gesture');
  assert.equal(p.controls.label.hidden, false);
  assert.equal(p.controls.label.textContent, 'Click for sound');
  assert.equal(p.controls.button.dataset.state, 'muted');
  // The user clicks somewhere on the page: now the browser allows it.
  p.video.allowed = true;
  p.win.dispatchEvent(new Event('pointerdown'));
  await flush();
  assert.equal(p.video.muted, false);
  assert.equal(p.controls.label.hidden, true);
  assert.equal(p.controls.button.dataset.state, 'on');
});

test('the mute button and the volume are remembered', async () => {
  const p = page({ allowed: true });
  const sound = new Sound(p.video, p.controls, p.storage, p.win);
  sound.setStream(withAudio);
  await flush();
  assert.equal(p.video.muted, false);
  p.controls.button.dispatchEvent(new Event('click'));
  assert.equal(p.video.muted, true);
  assert.equal(p.store.get('peerdesk.muted'), '1');
  p.controls.volume.value = '30';
  p.controls.volume.dispatchEvent(new Event('input'));
  assert.equal(p.video.volume, 0.3);
  assert.equal(p.video.muted, false, 'raising the volume unmutes');

  p.controls.button.dispatchEvent(new Event('click'));
  // A new page: muted by the user's choice (no "Click for sound"), volume 30%.
  const q = page({ allowed: true });
  q.store.set('peerdesk.muted', p.store.get('peerdesk.muted'));
  q.store.set('peerdesk.volume', p.store.get('peerdesk.volume'));
  const again = new Sound(q.video, q.controls, q.storage, q.win);
  again.setStream(withAudio);
  await flush();
  assert.equal(q.video.muted, true);
  assert.equal(q.controls.label.hidden, true);
  assert.equal(q.video.volume, 0.3);
  assert.equal(q.controls.volume.value, '30');
});

test('no audio track: the control is disabled and says why', () => {
  const p = page({ allowed: true });
  const sound = new Sound(p.video, p.controls, p.storage, p.win);
  sound.setStream({ getAudioTracks: () => [] });
  assert.equal(p.controls.button.disabled, true);
  assert.equal(p.controls.volume.disabled, true);
  assert.equal(p.controls.button.title, 'The host sends no sound');
  assert.equal(p.video.muted, true);
});
