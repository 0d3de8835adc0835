// What the host says when the X side is missing or goes away: a clear message and a non-zero
// exit, never a panic.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { start, startXvfb, startXprobe, launch, teardown, waitForFrames, run, exited } from './harness.js';

let browser;
after(() => teardown(browser));

const plain = (s) => s.replace(/\x1b\[[0-9;]*m/g, '');

test('no display at all is explained', { timeout: 30000 }, async () => {
  const env = { DISPLAY: '' };
  const r = await run(['host', '--room', 'x', '--source', 'x11', '--server', 'http://127.0.0.1:9'], { env });
  assert.equal(r.code, 1);
  assert.match(plain(r.stderr), /no X display: set DISPLAY or pass --display :N/);
  assert.doesNotMatch(r.stderr, /panicked/);
});

test('a display that cannot be opened is explained', { timeout: 30000 }, async () => {
  const r = await run(['host', '--room', 'x', '--source', 'x11', '--display', ':987', '--server', 'http://127.0.0.1:9']);
  assert.equal(r.code, 1);
  assert.match(plain(r.stderr), /cannot open X display :987/);
  const list = await run(['host', '--list-sources', '--display', ':987']);
  assert.equal(list.code, 0);
  assert.match(list.stdout, /x11: not available: cannot open X display :987/);
});

test('an X server that dies while streaming ends the host with a clear error', { timeout: 60000 }, async () => {
  const xvfb = await startXvfb('640x480');
  await startXprobe(xvfb.display);
  const server = await start(['serve', '--listen', '127.0.0.1:0'], 'listening ');
  const host = await start(['host', '--server', server.url, '--room', 'dies', '--source', 'x11', '--display', xvfb.display], 'open ');
  browser = await launch();
  const page = await browser.newPage();
  await page.goto(host.url);
  await waitForFrames(page, 1);
  await xvfb.kill('SIGKILL');
  const code = await exited(host);
  assert.equal(code, 1);
  assert.match(plain(host.stderr), /error: the video source stopped: lost the X display/);
  assert.doesNotMatch(host.stderr, /panicked/);
  // The server and the page are fine and say so.
  await page.waitForFunction(() => /went away/.test(document.getElementById('status-text').textContent), null, { timeout: 10000 });
});
