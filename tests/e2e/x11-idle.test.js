// A static X desktop costs the host almost nothing (XDamage: no change, no capture, no encode),
// and a browser that joins while it is idle still gets the picture at once (the keyframe is
// made from the last frame, not from a change that never comes).
//
// The host runs with --fixed-bitrate: this measures the capture and encode pipeline. With rate
// control on, str0m's bandwidth estimator keeps a 50 kbit/s padding floor (about 200 tiny
// packets a second) that costs some 5% of a core more on an idle screen; docs/PERFORMANCE.md
// has the figure.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  start, startXvfb, startXprobe, launch, teardown, waitForFrames, pixels, near, cpuSeconds,
} from './harness.js';

let host;
let server;
let first;
const ROOM = 'idle';

before(async () => {
  const xvfb = await startXvfb('1280x720');
  await startXprobe(xvfb.display);
  server = await start(['serve', '--listen', '127.0.0.1:0'], 'listening ');
  host = await start(['host', '--server', server.url, '--room', ROOM, '--source', 'x11', '--display', xvfb.display, '--fixed-bitrate'], 'open ');
  first = await launch();
});

after(() => teardown(first));

test('an idle screen costs almost no CPU, and a late viewer still gets the picture at once', { timeout: 60000 }, async () => {
  const page = await first.newPage();
  await page.goto(host.url);
  await waitForFrames(page, 1);
  await page.waitForTimeout(1000);

  const cpu0 = cpuSeconds(host.pid);
  const t0 = Date.now();
  await page.waitForTimeout(5000);
  // A second browser joins while the screen is idle.
  const second = await launch();
  const late = await second.newPage();
  const joined = Date.now();
  await late.goto(host.url);
  await waitForFrames(late, 1, 10000);
  console.log(`late viewer's first frame after ${Date.now() - joined} ms`);
  const got = await pixels(late, [[140, 100]]);
  assert.ok(near(got[0], [0xe6, 0x28, 0x28]), `the late viewer sees the desktop: ${got[0]}`);
  await page.waitForTimeout(Math.max(0, 10000 - (Date.now() - t0)));
  const cpu = ((cpuSeconds(host.pid) - cpu0) / ((Date.now() - t0) / 1000)) * 100;
  console.log(`host CPU over ${((Date.now() - t0) / 1000).toFixed(1)} s of idle screen: ${cpu.toFixed(1)}% of one core`);
  assert.ok(cpu < 5, `idle host CPU ${cpu.toFixed(1)}% is near zero`);
  await second.close_();
});
