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

test('the host behind a NAT that lets only replies in: its own checks open the way, and the pair goes direct', { timeout: 90000 }, async () => {
  lab.nat(true);
  try {
    const host = await start(hostArgs('behind-nat'), 'open ', { netns: lab.host });
    const { page, pair } = await play(host);
    assert.ok(pair.local !== 'relay' && pair.remote !== 'relay', `direct: ${JSON.stringify(pair)}`);
    // Learnt from the host's own checks through its NAT (Chromium hides such addresses).
    assert.equal(pair.remote, 'prflx', `the host as its NAT shows it: ${JSON.stringify(pair)}`);
    await page.close();
    await host.kill();
  } finally {
    lab.nat(false);
    lab.route(false);
  }
});

test('behind its NAT the host learns its public address from a STUN server outside and trickles it', { timeout: 90000 }, async () => {
  // A STUN server on the browser's side of the host's NAT (coturn answers STUN without
  // credentials), and a server that names only it.
  const stun = await startTurn(secret, { ip: '10.77.2.2', netns: lab.browser });
  const stunUrl = stun.url.replace(/^turn:/, 'stun:').replace(/\?.*$/, '');
  const plain = await start(['serve', '--listen', '10.77.1.1:0', '--stun', stunUrl], 'listening ', { netns: lab.mid });
  lab.nat(true);
  // Closed whatever happens: a browser left open keeps the test file from ending.
  let host;
  let ctx;
  try {
    host = await start(['host', '--server', plain.url, '--room', 'public', '--ephemeral-links', '--width', '640',
      '--height', '360', '--fps', '30', '--audio', 'none'], 'open ', { netns: lab.host, env: { RUST_LOG: 'info,peerdesk_session::nat=debug,peerdesk_host::viewer=debug' } });
    ctx = await launch({ netns: lab.browser, args: [`--unsafely-treat-insecure-origin-as-secure=${plain.url}`] });
    const page = await ctx.newPage();
    const trickled = [];
    page.on('websocket', (ws) => ws.on('framereceived', (f) => {
      if (typeof f.payload === 'string' && f.payload.includes('"candidate"')) trickled.push(JSON.parse(f.payload).candidate);
    }));
    await page.goto(host.url);
    await waitForFrames(page, 10, 30000);
    // (It failed now and then in full local runs, never alone: say what the host did then.)
    const srflx = await poll('a server-reflexive candidate from the host', () => trickled.find((c) => / typ srflx /.test(c)), 10000)
      .catch((e) => { throw new Error(`${e.message}; trickled: ${JSON.stringify(trickled)}; coturn: ${stun.out.slice(-1500)}; host:\n${host.stderr.slice(-3000)}`); });
    assert.match(srflx, / 10\.77\.2\.1 \d+ typ srflx raddr /, `the NAT's outside address: ${srflx}`);
  } finally {
    await ctx?.close_();
    await host?.kill();
    lab.nat(false);
    lab.route(false);
    await plain.kill();
    await stun.kill();
  }
});

test('host --ice-policy relay: the host offers only its own relay on coturn, and the page reaches it there', { timeout: 90000 }, async () => {
  const host = await start(hostArgs('private', ['--ice-policy', 'relay']), 'open ', { netns: lab.host });
  const answers = [];
  const page = await browser.newPage();
  page.on('websocket', (ws) => ws.on('framereceived', (f) => {
    if (typeof f.payload === 'string' && /"type":"(answer|candidate)"/.test(f.payload)) answers.push(JSON.parse(f.payload));
  }));
  await page.goto(host.url);
  await waitForFrames(page, 10, 30000);
  const pair = await poll('a selected candidate pair', () => selectedPair(page), 10000);
  assert.equal(pair.remote, 'relay', `the host is reached at its relay: ${JSON.stringify(pair)}`);
  assert.equal(pair.remoteAddress, '10.77.1.1', 'on coturn');
  // Nothing the page was told holds the host's own address.
  const told = JSON.stringify(answers);
  assert.ok(!told.includes('10.77.1.2'), `the host's address never reached the page: ${told.slice(0, 400)}`);
  assert.ok(answers.some((m) => m.type === 'candidate' && / typ relay/.test(m.candidate)), 'the relay was trickled');
  assert.match(host.stderr, /TURN relay allocated/);
  await page.close();
  await host.kill();
});
