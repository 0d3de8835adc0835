// The host's network changes under a running stream: its only path to the browser (a LAN
// link of its own, 10.88.0.0/24; the homes of harness makeNatLab have no other path, and no
// TURN is configured) changes address. The host notices (it checks its addresses every 2 s),
// restarts ICE with the new address through the signaling server, the page answers, and the
// picture comes back on the same RTCPeerConnection: same DTLS session, no new handshake. The
// same when the browser moves: the page restarts ICE with an offer of its own.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { start, launch, makeNatLab, teardown, waitForFrames, poll, selectedPair, videoStats } from './harness.js';

let lab;
let server;
let browser;
const ip = (...a) => execFileSync('ip', a, { stdio: ['ignore', 'pipe', 'pipe'] }).toString();

before(async () => {
  lab = makeNatLab('move');
  lab.route(false);
  ip('link', 'add', 'h1', 'netns', lab.host.name, 'type', 'veth', 'peer', 'name', 'b1', 'netns', lab.browser.name);
  ip('-n', lab.host.name, 'addr', 'add', '10.88.0.2/24', 'dev', 'h1');
  ip('-n', lab.browser.name, 'addr', 'add', '10.88.0.3/24', 'dev', 'b1');
  ip('-n', lab.host.name, 'link', 'set', 'h1', 'up');
  ip('-n', lab.browser.name, 'link', 'set', 'b1', 'up');
  server = await start(['serve', '--listen', '10.77.1.1:0'], 'listening ', { netns: lab.mid });
  browser = await launch({ netns: lab.browser, args: [`--unsafely-treat-insecure-origin-as-secure=${server.url}`] });
});

after(async () => {
  await teardown(browser);
  await server?.kill();
  lab?.remove();
});

test('the host moves to a new address: an ICE restart brings the picture back on the same connection', { timeout: 120000 }, async () => {
  const host = await start(['host', '--server', server.url, '--room', 'moving', '--ephemeral-links',
    '--width', '640', '--height', '360', '--fps', '30', '--audio', 'none'], 'open ', { netns: lab.host });
  const page = await browser.newPage();
  await page.goto(host.url);
  await waitForFrames(page, 10, 30000);
  const before = await poll('a selected pair', () => selectedPair(page), 10000);
  assert.equal(before.remoteAddress, '10.88.0.2', `over the LAN link: ${JSON.stringify(before)}`);
  const pc = await page.evaluateHandle(() => window.peerdesk.pc);

  // The LAN gives the host another address; the old one is gone.
  ip('-n', lab.host.name, 'addr', 'del', '10.88.0.2/24', 'dev', 'h1');
  ip('-n', lab.host.name, 'addr', 'add', '10.88.0.4/24', 'dev', 'h1');
  const moved = await videoStats(page);

  await poll('the host to notice', () => /network changed: restarting ICE/.test(host.stderr), 15000);
  await poll('frames again', async () => (await videoStats(page)).framesDecoded > moved.framesDecoded + 30, 20000);
  const after = await poll('the new pair', async () => {
    const p = await selectedPair(page);
    return p?.remoteAddress === '10.88.0.4' ? p : null;
  }, 10000);
  assert.equal(after.remoteAddress, '10.88.0.4');
  assert.ok(await page.evaluate((old) => window.peerdesk.pc === old, pc), 'the same connection: an ICE restart, not a new session');
  await page.close();
  await host.kill();
});

test('the browser moves to a new address: the page restarts ICE and the picture comes back on the same connection', { timeout: 120000 }, async () => {
  const host = await start(['host', '--server', server.url, '--room', 'roaming', '--ephemeral-links',
    '--width', '640', '--height', '360', '--fps', '30', '--audio', 'none'], 'open ', { netns: lab.host });
  const page = await browser.newPage();
  await page.goto(host.url);
  await waitForFrames(page, 10, 30000);
  const before = await poll('a selected pair', () => selectedPair(page), 10000);
  assert.match(before.remoteAddress, /^10\.88\.0\./, `over the LAN link: ${JSON.stringify(before)}`);
  const pc = await page.evaluateHandle(() => window.peerdesk.pc);

  ip('-n', lab.browser.name, 'addr', 'del', '10.88.0.3/24', 'dev', 'b1');
  ip('-n', lab.browser.name, 'addr', 'add', '10.88.0.5/24', 'dev', 'b1');
  const moved = await videoStats(page);
  await poll('the host to hear the restart', () => /the viewer restarts ICE/.test(host.stderr), 20000);
  await poll('frames again', async () => (await videoStats(page))?.framesDecoded > moved.framesDecoded + 30, 20000);
  // Chromium hides its own addresses in the stats; the host's side stays on the LAN.
  const after = await poll('a selected pair again', () => selectedPair(page), 10000);
  assert.match(after.remoteAddress, /^10\.88\.0\./, JSON.stringify(after));
  assert.ok(await page.evaluate((old) => window.peerdesk.pc === old, pc), 'the same connection: an ICE restart, not a new session');
  await page.close();
  await host.kill();
});
