// NAT traversal through a real TURN server (Debian's coturn, started by the test): `peerdesk
// serve --turn ... --turn-secret-file ... --ice-policy relay` hands the page short-lived TURN
// credentials of its own (the TURN REST scheme), coturn accepts them, and the stream flows
// through the relay (the selected candidate pair is a relay one).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { start, startTurn, startWithPage, teardown, waitForFrames, poll, selectedPair } from './harness.js';

const dir = mkdtempSync(join(tmpdir(), 'peerdesk-turn-test-'));
const secret = randomBytes(24).toString('hex');
let turn;
let browser;
let page;
let server;

before(async () => {
  turn = await startTurn(secret);
  const secretFile = join(dir, 'turn-secret');
  writeFileSync(secretFile, `${secret}\n`, { mode: 0o600 });
  ({ proc: server, browser, page } = await startWithPage(['serve', '--listen', '127.0.0.1:0', '--turn', turn.url,
    '--turn-secret-file', secretFile, '--ice-policy', 'relay'], 'listening '));
});

after(async () => {
  await teardown(browser);
  rmSync(dir, { recursive: true, force: true });
});

test('with --ice-policy relay the page gets TURN credentials coturn accepts, and the stream goes through the relay', { timeout: 60000 }, async () => {
  const host = await start(['host', '--server', server.url, '--room', 'relayed', '--ephemeral-links',
    '--width', '640', '--height', '360', '--fps', '30', '--audio', 'none'], 'open ');
  const joined = [];
  page.on('websocket', (ws) => ws.on('framereceived', (f) => {
    if (typeof f.payload === 'string' && f.payload.includes('"joined"')) joined.push(JSON.parse(f.payload));
  }));
  await page.goto(host.url);
  await waitForFrames(page, 10, 20000);
  const pair = await poll('a selected candidate pair', () => selectedPair(page), 10000);
  assert.equal(pair.local, 'relay', `the page sends through the relay: ${JSON.stringify(pair)}`);
  // What the page was given: its own username (expiry:peer) and a password, never the secret.
  const ice = joined[0].ice_servers;
  assert.equal(joined[0].ice_policy, 'relay');
  assert.deepEqual(ice[0].urls, [turn.url]);
  assert.match(ice[0].username, new RegExp(`^\\d+:${joined[0].peer}$`));
  assert.ok(Number(ice[0].username.split(':')[0]) > Date.now() / 1000, 'the credential expires in the future');
  assert.ok(!JSON.stringify(joined[0]).includes(secret), 'the secret is never sent');
  assert.ok(!server.stderr.includes(secret), 'nor logged');
  // coturn saw that user allocate a relay.
  assert.ok(turn.out.includes(ice[0].username), 'coturn authenticated the page with its REST username');
});
