// NAT traversal in network namespaces made by the test (harness makeNatLab): a host's home and
// a browser's home, each reaching only the middle, where the signaling server and coturn
// (Debian's, started here) live. With no path between the homes, the stream goes through the
// relay; with one, the pair goes direct; with `host --ice-policy relay`, the host offers only
// a relay address of its own, allocated from coturn with the credentials the server gave it.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { start, startTurn, launch, makeNatLab, teardown, waitForFrames, poll, selectedPair } from './harness.js';

const dir = mkdtempSync(join(tmpdir(), 'peerdesk-nat-test-'));
const secret = randomBytes(24).toString('hex');
let lab;
let turn;
let server;
let browser;

before(async () => {
  lab = makeNatLab('nat');
  lab.route(false);
  turn = await startTurn(secret, { ip: '10.77.1.1', netns: lab.mid });
  const secretFile = join(dir, 'turn-secret');
  writeFileSync(secretFile, `${secret}\n`, { mode: 0o600 });
  server = await start(['serve', '--listen', '10.77.1.1:0', '--turn', turn.url, '--turn-secret-file', secretFile],
    'listening ', { netns: lab.mid });
  // Plain http on a LAN address: let this test's browser treat the server's origin as secure
  // (the pairing needs WebCrypto) instead of setting up TLS, which tls.test.js covers.
  browser = await launch({ netns: lab.browser, args: [`--unsafely-treat-insecure-origin-as-secure=${server.url}`] });
});

after(async () => {
  await teardown(browser);
  await server?.kill();
  await turn?.kill();
  lab?.remove();
  rmSync(dir, { recursive: true, force: true });
});

const hostArgs = (room, extra = []) => ['host', '--server', server.url, '--room', room, '--ephemeral-links',
  '--width', '640', '--height', '360', '--fps', '30', '--audio', 'none', ...extra];

async function play(host) {
  const page = await browser.newPage();
  await page.goto(host.url);
  await waitForFrames(page, 10, 30000);
  const pair = await poll('a selected candidate pair', () => selectedPair(page), 10000);
  return { page, pair };
}

test('no path between the homes: the stream goes through the relay', { timeout: 90000 }, async () => {
  const host = await start(hostArgs('apart'), 'open ', { netns: lab.host });
  const { page, pair } = await play(host);
  assert.ok(pair.local === 'relay' || pair.remote === 'relay', `a relay carries it: ${JSON.stringify(pair)}`);
  await page.close();
  await host.kill();
});

test('with a path between the homes, the pair goes direct', { timeout: 90000 }, async () => {
  lab.route(true);
  try {
    const host = await start(hostArgs('together'), 'open ', { netns: lab.host });
    const { page, pair } = await play(host);
    assert.ok(pair.local !== 'relay' && pair.remote !== 'relay', `direct: ${JSON.stringify(pair)}`);
    assert.equal(pair.remoteAddress, '10.77.1.2', 'straight to the host\'s own address');
    await page.close();
    await host.kill();
  } finally {
    lab.route(false);
  }
});
