// `peerdesk serve` and `peerdesk host` as separate processes: a browser that arrives first
// waits; when the host is killed and restarted the browser gets the picture back by itself
// (the host keeps its link in its state directory, so the page's link stays good); when the
// server restarts, the host reconnects and a reloaded page plays again.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  start, startWithPage, teardown, runningProcs, screenshot, waitForFrames, pixels, near, poll, videoStats,
  sceneLayout, PATCH_COLOURS,
} from './harness.js';

let server;
let browser;
let page;
const ROOM = 'restarts';
const stateDir = mkdtempSync(join(tmpdir(), 'peerdesk-state-'));
const hostArgs = (url) => ['host', '--server', url, '--room', ROOM, '--width', '640', '--height', '360', '--fps', '30',
  '--state-dir', stateDir];
// The host's link, learnt from a first run of the host before the page arrives.
let link;

before(async () => {
  ({ proc: server, browser, page } = await startWithPage(['serve', '--listen', '127.0.0.1:0'], 'listening '));
  const first = await start(hostArgs(server.url), 'open ');
  link = first.url;
  await first.kill();
});

after(async () => {
  await teardown(browser);
  rmSync(stateDir, { recursive: true, force: true });
});

async function assertTestScene() {
  const layout = sceneLayout(640, 360);
  const got = await pixels(page, layout.patches);
  PATCH_COLOURS.forEach((c, i) => assert.ok(near(got[i], c), `patch ${i}: ${got[i]} vs ${c}`));
}

const status = () => page.evaluate(() => window.peerdesk?.status ?? '');

test('a browser that arrives before the host waits, then plays', { timeout: 60000 }, async () => {
  assert.match(link, new RegExp(`^${server.url}/\\?room=${ROOM}#k=[A-Za-z0-9_-]{43}$`));
  await page.goto(link);
  await poll('the waiting message', async () => /Waiting for the host/.test(await status()), 10000);
  await screenshot(page, 'waiting-for-host');
  const host = await start(hostArgs(server.url), 'open ');
  assert.equal(host.url, link, 'a restarted host hands out the same link');
  await waitForFrames(page, 10);
  await assertTestScene();
});

test('killing and restarting the host brings the picture back without a reload', { timeout: 90000 }, async () => {
  const old = await videoStats(page);
  assert.ok(old.framesDecoded > 0);
  const pcBefore = await page.evaluateHandle(() => window.peerdesk.pc);
  // SIGKILL: no goodbye; the server notices the closed socket.
  const hosts = runningProcs().filter((p) => p.name === 'host');
  assert.equal(hosts.length, 1);
  await hosts[0].kill('SIGKILL');
  await poll('the host-gone message', async () => /went away/.test(await status()), 10000);

  await start(hostArgs(server.url), 'open ');
  await waitForFrames(page, 10, 20000);
  const same = await page.evaluate((old) => window.peerdesk.pc === old, pcBefore);
  assert.equal(same, false, 'a new connection was made');
  await assertTestScene();
});

test('after a server restart the host reconnects and a reloaded page plays', { timeout: 90000 }, async () => {
  const port = new URL(server.url).port;
  const before = await videoStats(page);
  await server.kill('SIGKILL');
  // Media never passed through the server: with it dead, frames keep arriving.
  await page.waitForTimeout(3000);
  const during = await videoStats(page);
  assert.ok(during.framesDecoded - before.framesDecoded >= 60, `frames while the server was down: ${during.framesDecoded - before.framesDecoded} in 3 s`);
  assert.equal(during.state, 'connected');
  // Same address, so the running host (backing off) and the page find it again.
  server = await start(['serve', '--listen', `127.0.0.1:${port}`], 'listening ');
  await page.reload();
  await waitForFrames(page, 10, 30000);
  await assertTestScene();
  await screenshot(page, 'after-server-restart');
});
