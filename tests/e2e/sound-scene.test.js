// The test scene's sound (`peerdesk demo` has sound on any machine): a 1 kHz beat at the start
// of every second, flashing with the beat square in the picture, and a 660 Hz beep for each key
// or button press. The page hears both; the offset between the flash in the decoded video and the
// beat in the received audio is measured and reported (docs/PERFORMANCE.md has the benchmark's
// figure; this test only rules out gross desync).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  start, startDemoPage, teardown, waitForFrames, waitForAudioTrack, startAvMonitor, avOnsets, avOffsets, median,
  sceneLayout, poll,
} from './harness.js';

let browser;
let page;
const W = 640;
const H = 360;

before(async () => {
  ({ browser, page } = await startDemoPage(['--width', String(W), '--height', String(H)]));
  await waitForAudioTrack(page);
  const { beat } = sceneLayout(W, H);
  await startAvMonitor(page, [beat[0] / W, beat[1] / H]);
});

after(() => teardown(browser));

test('the beat is heard with the flash, within a frame or two of it', { timeout: 30000 }, async () => {
  const seen = await poll('five beats seen and heard', async () => {
    const m = await avOnsets(page);
    return m.video.length >= 5 && m.audio.length >= 5 ? m : null;
  }, 15000);
  const beats = seen.tones.filter((t) => Math.abs(t.hz - 1000) <= 12);
  assert.ok(beats.length > 0, `1 kHz heard: ${JSON.stringify(seen.tones.slice(-5))}`);
  // Flashes a second apart, beats a second apart.
  for (const list of [seen.video, seen.audio]) {
    const gaps = list.slice(1).map((t, i) => t - list[i]);
    assert.ok(gaps.every((g) => Math.abs(g - 1000) < 120), `one a second: ${gaps.map(Math.round)}`);
  }
  // Offsets at two points: where the page's WebAudio tap hears the beat (adds the tap's own
  // buffers, about 40 ms, and the output device's latency, which headless Chromium fakes), and
  // where the receiver says it played the beat's frame out (its synchronization source; Chromium
  // posts that time from another thread, so it reads late when the machine is busy).
  const played = await poll('five beats played out', async () => {
    const m = await avOnsets(page);
    return m.playout.length >= 5 ? m : null;
  }, 10000);
  const atPlayout = avOffsets({ video: played.video, audio: played.playout });
  const heard = avOffsets(seen);
  const show = (xs) => `median ${median(xs).toFixed(1)} (${xs.map((o) => o.toFixed(0)).join(' ')})`;
  console.log(`# A/V offset, audio minus video, ms: at playout ${show(atPlayout)}; heard through WebAudio ${show(heard)}`);
  assert.ok(atPlayout.length >= 4 && heard.length >= 4, `beats paired with flashes: ${atPlayout.length}, ${heard.length}`);
  assert.ok(Math.abs(median(heard)) < 200, `no gross desync: ${median(heard).toFixed(1)} ms`);
});

test('a key press beeps at 660 Hz', { timeout: 30000 }, async () => {
  await page.click('#stage', { position: { x: 5, y: H - 5 } });
  // Away from the beat: right after a flash ends.
  const from = Date.now();
  await page.keyboard.press('KeyB');
  const beep = await poll('a 660 Hz beep', async () => {
    const m = await avOnsets(page);
    return m.tones.find((t) => t.t >= from && Math.abs(t.hz - 660) <= 12);
  }, 5000);
  assert.ok(beep.t - from < 2000, `beep within 2 s: ${beep.t - from} ms`);
});

test('the sound button mutes and unmutes, and the volume is remembered', { timeout: 30000 }, async () => {
  const state = () => page.evaluate(() => {
    const v = document.getElementById('video');
    const b = document.getElementById('sound');
    return { muted: v.muted, volume: v.volume, state: b.dataset.state, disabled: b.disabled, label: document.getElementById('sound-label').hidden };
  });
  // The earlier click was the user's gesture: sound is on.
  assert.deepEqual(await state(), { muted: false, volume: 1, state: 'on', disabled: false, label: true });
  await page.click('#sound');
  assert.equal((await state()).muted, true);
  assert.equal((await state()).state, 'muted');
  await page.click('#sound');
  assert.equal((await state()).muted, false);
  await page.fill('#volume', '30');
  assert.equal((await state()).volume, 0.3);
  await page.reload();
  await waitForFrames(page, 1);
  await poll('sound on again after the reload', async () => {
    const s = await state();
    return s.state === 'on' && s.volume === 0.3 ? s : null;
  }, 10000);
});

test('with --audio none the host sends no sound and the page says so', { timeout: 30000 }, async () => {
  const quiet = await start(['demo', '--listen', '127.0.0.1:0', '--width', String(W), '--height', String(H), '--audio', 'none'], 'open ');
  const p = await browser.newPage();
  try {
    await p.goto(quiet.url);
    await waitForFrames(p, 1);
    const s = await p.evaluate(() => ({
      tracks: window.peerdesk.stream.getAudioTracks().length,
      disabled: document.getElementById('sound').disabled,
      title: document.getElementById('sound').title,
    }));
    assert.deepEqual(s, { tracks: 0, disabled: true, title: 'The host sends no sound' });
    assert.doesNotMatch(quiet.stderr, /sound: /);
  } finally {
    await p.close();
    await quiet.kill();
  }
});

test('with --av-sync the picture waits for the sound, and both still come', { timeout: 30000 }, async () => {
  const synced = await start(['demo', '--listen', '127.0.0.1:0', '--width', String(W), '--height', String(H), '--av-sync'], 'open ');
  const p = await browser.newPage();
  try {
    await p.goto(synced.url);
    await waitForFrames(p, 1);
    await waitForAudioTrack(p);
    const { beat } = sceneLayout(W, H);
    await startAvMonitor(p, [beat[0] / W, beat[1] / H]);
    const seen = await poll('five beats seen and heard', async () => {
      const m = await avOnsets(p);
      return m.video.length >= 5 && m.audio.length >= 5 ? m : null;
    }, 15000);
    const heard = avOffsets(seen);
    console.log(`# with --av-sync, A/V offset heard through WebAudio (ms): median ${median(heard).toFixed(1)}`);
    assert.ok(heard.length >= 4 && Math.abs(median(heard)) < 200, `no gross desync: ${heard}`);
  } finally {
    await p.close();
    await synced.kill();
  }
});
