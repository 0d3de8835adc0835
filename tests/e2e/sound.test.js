// The host's desktop sound in the browser: a PulseAudio daemon of the test's own (a null sink
// whose monitor is the default one), `peerdesk host --source x11` recording it by default,
// Debian's Chromium listening to the received track with WebAudio. A tone played on the host is
// heard at its frequency, silence after it; PulseAudio killed mid-stream leaves the picture
// running, and restarted it brings the sound back.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  run, start, startXvfb, startXprobe, startPulse, launch, teardown, waitForFrames, waitForAudioTrack, videoStats, listen,
  loudest, poll,
} from './harness.js';

let pulse;
let host;
let browser;
let page;
const ROOM = 'sound';

before(async () => {
  pulse = await startPulse();
  const xvfb = await startXvfb('640x360');
  // Moving content, so the picture keeps flowing at its frame rate while sound comes and goes.
  await startXprobe(xvfb.display, undefined, ['--animate', '30']);
  const server = await start(['serve', '--listen', '127.0.0.1:0'], 'listening ');
  host = await start(['host', '--server', server.url, '--room', ROOM, '--source', 'x11', '--display', xvfb.display],
    'open ', { env: { PULSE_SERVER: pulse.server } });
  browser = await launch();
  page = await browser.newPage();
  await page.goto(host.url);
  await waitForFrames(page, 1);
  await waitForAudioTrack(page);
  await listen(page);
});

after(() => teardown(browser));

/** Waits until the page hears `hz` (within one analyser bin and a bit) clearly. */
function hear(hz, timeout = 10000) {
  return poll(`${hz} Hz in the page`, async () => {
    const l = await loudest(page);
    return Math.abs(l.hz - hz) <= 15 && l.db > -60 ? l : null;
  }, timeout);
}

function silence(timeout = 5000) {
  return poll('silence in the page', async () => {
    const l = await loudest(page);
    return l.db < -90 ? l : null;
  }, timeout);
}

test('a tone played on the host is heard in the browser at its frequency, and silence after it', { timeout: 30000 }, async () => {
  await silence();
  const tone = await pulse.pactl(['load-module', 'module-sine', 'sink=peerdesk_test', 'frequency=880']);
  const heard = await hear(880);
  assert.ok(heard.db > -60, `loud enough: ${heard.db} dB`);
  await pulse.pactl(['unload-module', tone]);
  await silence();
});

test('PulseAudio killed mid-stream: the picture goes on; restarted: the sound comes back', { timeout: 60000 }, async () => {
  const tone = await pulse.pactl(['load-module', 'module-sine', 'sink=peerdesk_test', 'frequency=440']);
  await hear(440);
  void tone;
  const killed = pulse;
  await killed.kill('SIGKILL');
  try {
    const from = host.stderr.length;
    await poll('the host to notice', () => /audio stream stopped|no sound/.test(host.stderr), 20000).catch((e) => {
      // Say what the host and the killed server last said, for a run where it did not notice.
      throw new Error(`${e.message}; killed server exit ${killed.child.exitCode}/${killed.child.signalCode}; host since the kill:\n${host.stderr.slice(from - 2000)}`);
    });
    const before = await videoStats(page);
    await poll('30 more frames without sound', async () => {
      const s = await videoStats(page);
      return s.framesDecoded >= before.framesDecoded + 30 ? s : null;
    }, 10000);
    assert.equal(host.child.exitCode, null, 'the host runs on');
  } finally {
    // Back in any case: the tests after this one need the server.
    pulse = await startPulse(killed.dir);
  }
  await pulse.pactl(['load-module', 'module-sine', 'sink=peerdesk_test', 'frequency=660']);
  await hear(660, 20000);
  assert.match(host.stderr, /sound is back/);
});

test('--list-sources lists the sound server\'s sources, the default output\'s monitor first', { timeout: 30000 }, async () => {
  const r = await run(['host', '--list-sources'], { env: { PULSE_SERVER: pulse.server, DISPLAY: '' } });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /sound sources/);
  const lines = r.stdout.split('\n').filter((l) => /^ {4}\S/.test(l) && /monitor|default/.test(l));
  assert.match(lines[0], /peerdesk_test\.monitor .*default/, r.stdout);
});

test('an unknown --audio-source is reported, and the picture streams anyway', { timeout: 30000 }, async () => {
  const server = await start(['serve', '--listen', '127.0.0.1:0'], 'listening ');
  const other = await start(['host', '--server', server.url, '--room', 'nosuch', '--source', 'testscene', '--audio-source', 'no.such.source'],
    'open ', { env: { PULSE_SERVER: pulse.server } });
  const p = await browser.newPage();
  try {
    await p.goto(other.url);
    await waitForFrames(p, 5);
    await poll('the warning', () => /no audio source named "no.such.source"/.test(other.stderr), 10000);
    const warnings = other.stderr.split('\n').filter((l) => l.includes('WARN') && l.includes('no.such.source'));
    assert.equal(warnings.length, 1, `said once: ${warnings.join('\n')}`);
  } finally {
    await p.close();
    await other.kill();
    await server.kill();
  }
});
