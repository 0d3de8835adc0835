// Nobody watches or controls a host uninvited: the link's secret lets a browser in, a view-only
// link lets it watch while the host drops whatever input it sends (checked in the host's own
// record of the input that reached it), the host's console hands control over, kicks and
// revokes, and wrong, revoked, expired and replayed handshakes are refused in words.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { start, launch, teardown, waitForFrames, poll, screenshot, videoStats } from './harness.js';

const dir = mkdtempSync(join(tmpdir(), 'peerdesk-pairing-'));
const recordPath = join(dir, 'input.log');
let demo;
let viewLink;
let browser;
const SCENE = ['--width', '640', '--height', '360', '--fps', '30', '--audio', 'none'];

before(async () => {
  demo = await start(['demo', '--listen', '127.0.0.1:0', '--view-link', '--record-input', recordPath, ...SCENE], 'open ', { console: true });
  viewLink = await demo.waitForLine('view ');
  browser = await launch();
});

after(async () => {
  await teardown(browser);
  rmSync(dir, { recursive: true, force: true });
});

const status = (page) => page.evaluate(() => window.peerdesk?.status ?? '');
const role = (page) => page.evaluate(() => window.peerdesk?.role ?? null);
const recorded = () => readFileSync(recordPath, 'utf8').split('\n').filter(Boolean);

async function open(url) {
  const page = await browser.newPage();
  await page.goto(url);
  return page;
}

// What a hostile page can do: write input events straight into its own data channels.
// KeyA down and up, a pointer move, a left click: the bytes of docs/protocol.md.
function sendRawInput(page, times = 20) {
  return page.evaluate((n) => {
    const { input, motion } = window.peerdesk.channels;
    for (let i = 0; i < n; i++) {
      input.send(new Uint8Array([5, 1, 4, 0x4b, 0x65, 0x79, 0x41]));
      input.send(new Uint8Array([5, 0, 4, 0x4b, 0x65, 0x79, 0x41]));
      motion.send(new Uint8Array([1, 0x40, 0, 0x40, 0]));
      input.send(new Uint8Array([3, 0, 1]));
      input.send(new Uint8Array([3, 0, 0]));
    }
    return input.readyState;
  }, times);
}

let controller;
let watcher;

test('the link lets a browser in, in control; the view-only link only watches, whatever its page sends', { timeout: 60000 }, async () => {
  assert.match(demo.url, /#k=[A-Za-z0-9_-]{43}$/);
  assert.match(viewLink, /#k=[A-Za-z0-9_-]{43}$/);
  assert.notEqual(viewLink, demo.url);

  controller = await open(demo.url);
  await waitForFrames(controller, 5);
  const c = await poll('the controller role', () => role(controller).then((r) => r?.role === 'control' && r), 10000);
  assert.equal(await controller.textContent('#role'), 'In control');

  watcher = await open(viewLink);
  await waitForFrames(watcher, 5);
  const w = await poll('the view role', () => role(watcher).then((r) => r?.role === 'view' && r), 10000);
  assert.equal(w.may_control, false);
  assert.equal(await watcher.textContent('#role'), 'View only');
  await screenshot(watcher, 'view-only');

  assert.equal(await sendRawInput(watcher), 'open');
  assert.equal(await sendRawInput(controller), 'open');
  // The controller's events arrive; by then the watcher's, sent first on the same kind of
  // channel, would have too.
  await poll('the controller input in the host record', () => recorded().filter((l) => l.startsWith(`p${c.peer} Key`)).length >= 40, 10000);
  await new Promise((r) => setTimeout(r, 500));
  const fromWatcher = recorded().filter((l) => l.startsWith(`p${w.peer} `));
  assert.deepEqual(fromWatcher, [], 'nothing from the view-only page reached the host input');
  assert.ok(recorded().some((l) => l.startsWith(`p${c.peer} PointerMove`)), 'the controller pointer reached it');
  assert.ok((await videoStats(watcher)).framesDecoded > 0);
});

test('the console hands control over, lists the viewers and kicks', { timeout: 60000 }, async () => {
  const c = await role(controller);
  const w = await role(watcher);
  let mark = demo.out.length;
  demo.type('viewers');
  const line = await demo.waitForLine(`viewer p${c.peer}: `, mark);
  assert.match(line, /^control link, in control for \d+ s$/);
  assert.match(await demo.waitForLine(`viewer p${w.peer}: `, mark), /^view-only link, watching/);

  mark = demo.out.length;
  demo.type(`control p${w.peer}`);
  assert.match(await demo.waitForLine('viewer ', mark), /now controls the host/);
  await poll('the watcher in control', () => role(watcher).then((r) => r?.role === 'control'), 10000);
  const demoted = await poll('the old controller watching', () => role(controller).then((r) => r?.role === 'view' && r), 10000);
  assert.equal(demoted.may_control, true, 'its link still allows control');

  const before = recorded().length;
  await sendRawInput(watcher, 5);
  await sendRawInput(controller, 5);
  await poll('the new controller input', () => recorded().slice(before).some((l) => l.startsWith(`p${w.peer} Key`)), 10000);
  await new Promise((r) => setTimeout(r, 500));
  assert.deepEqual(recorded().slice(before).filter((l) => l.startsWith(`p${c.peer} `) && !l.endsWith('release')), [],
    'the demoted viewer input no longer reaches the host');

  demo.type(`kick p${w.peer}`);
  await poll('the kicked page says so', async () => /The host ended your session/.test(await status(watcher)), 10000);
  assert.equal(await watcher.getAttribute('#status', 'data-kind'), 'error');
  // Control goes back to the one left with a control link.
  await poll('control back to the first viewer', () => role(controller).then((r) => r?.role === 'control'), 10000);
  await watcher.close();
});

test('a wrong key and a revoked link are refused in words; the new link works', { timeout: 60000 }, async () => {
  const wrong = await open(demo.url.replace(/#k=.*$/, `#k=${'B'.repeat(43)}`));
  await poll('the wrong-key message', async () => /not one this host issued/.test(await status(wrong)), 10000);
  assert.equal(await wrong.evaluate(() => window.peerdesk.pc), null, 'no connection is left open');
  await screenshot(wrong, 'wrong-key');
  await wrong.close();

  const mark = demo.out.length;
  demo.type('revoke');
  await poll('the revoked controller is told', async () => /revoked this link/.test(await status(controller)), 10000);
  const fresh = await demo.waitForLine('open ', mark);
  assert.notEqual(fresh, demo.url);
  const old = await open(demo.url);
  await poll('the old link is refused', async () => /revoked this link/.test(await status(old)), 10000);
  await old.close();
  const renewed = await open(fresh);
  await waitForFrames(renewed, 5);
  await renewed.close();
  await controller.close();
});

test('an expired link is refused; the console issues a fresh one', { timeout: 60000 }, async () => {
  const short = await start(['demo', '--listen', '127.0.0.1:0', '--link-ttl', '2s', ...SCENE], 'open ', { console: true, name: 'short-demo' });
  await new Promise((r) => setTimeout(r, 2500));
  const page = await open(short.url);
  await poll('the expired message', async () => /has expired/.test(await status(page)), 10000);
  const mark = short.out.length;
  short.type('links');
  const fresh = await short.waitForLine('open ', mark);
  assert.notEqual(fresh, short.url);
  await page.goto('about:blank');
  await page.goto(fresh);
  await waitForFrames(page, 3);
  await page.close();
  await short.kill();
});

test('a replayed offer is refused, and a page without the secret cannot prove itself', { timeout: 60000 }, async () => {
  // A real page's offer, as the server relays it.
  const page = await browser.newPage();
  const offers = [];
  page.on('websocket', (ws) => ws.on('framesent', (f) => {
    if (typeof f.payload === 'string' && f.payload.includes('"offer"')) offers.push(f.payload);
  }));
  // The current link: the last one printed (the previous test revoked the first).
  await page.goto(await demo.waitForLine('open ', demo.out.lastIndexOf('open ')));
  await waitForFrames(page, 3);
  assert.equal(offers.length, 1);
  const origin = new URL(demo.url).origin;
  // Someone who saw it (the server) sends it again, then with a fresh nonce and a made-up proof.
  const attacker = await open(`${origin}/`);
  const got = await attacker.evaluate(async ([offer, wsUrl]) => {
    const ws = new WebSocket(wsUrl);
    const inbox = [];
    const next = (type) => new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no ${type}`)), 5000);
      const check = () => {
        const i = inbox.findIndex((m) => m.type === type);
        if (i >= 0) { clearTimeout(t); resolve(inbox.splice(i, 1)[0]); } else setTimeout(check, 20);
      };
      check();
    });
    ws.onmessage = (e) => inbox.push(JSON.parse(e.data));
    await new Promise((r) => { ws.onopen = r; });
    ws.send(JSON.stringify({ type: 'join', v: 1, room: 'demo', role: 'viewer' }));
    await next('joined');
    ws.send(offer);
    const replayed = await next('deny');
    const fresh = JSON.parse(offer);
    fresh.auth.nonce = 'AAAAAAAAAAAAAAAAAAAAAA';
    ws.send(JSON.stringify(fresh));
    const answer = await next('answer');
    ws.send(JSON.stringify({ type: 'proof', mac: 'A'.repeat(43) }));
    const mismatch = await next('deny');
    ws.close();
    return { replayed: replayed.code, answered: !!answer.auth?.mac, mismatch: mismatch.code };
  }, [offers[0], `${origin.replace('http', 'ws')}/ws`]);
  assert.deepEqual(got, { replayed: 'replayed', answered: true, mismatch: 'proof_mismatch' });
  assert.match(demo.stderr, /its proof does not match this session/);
  await attacker.close();
  await page.close();
});

test('no secret and no session description reach the host log', () => {
  const secrets = [...demo.out.matchAll(/#k=([A-Za-z0-9_-]+)/g)].map((m) => m[1]);
  assert.ok(secrets.length >= 3, 'the links printed in this file');
  for (const s of secrets) assert.ok(!demo.stderr.includes(s), 'a link secret is in the log');
  assert.doesNotMatch(demo.stderr, /a=fingerprint|v=0\r?\n|a=ice-pwd/);
});

test('a page that sends garbage or floods its input channel loses its session; the others play on', { timeout: 90000 }, async () => {
  const link = await demo.waitForLine('open ', demo.out.lastIndexOf('open '));
  const calm = await open(link);
  await waitForFrames(calm, 3);

  const garbage = await open(link);
  await waitForFrames(garbage, 3);
  await garbage.evaluate(() => {
    const { input } = window.peerdesk.channels;
    // Kind 0xff is no event at all.
    for (let i = 0; i < 300; i++) input.send(new Uint8Array([0xff, i & 0xff]));
  });
  await poll('the garbage page told', async () => /input the host could not read/.test(await status(garbage)), 15000);

  const flooder = await open(link);
  await waitForFrames(flooder, 3);
  await flooder.evaluate(async () => {
    const { motion } = window.peerdesk.channels;
    const end = Date.now() + 8000;
    // About 20,000 pointer moves a second, five times what a 1000 Hz mouse sends.
    while (Date.now() < end && motion.readyState === 'open' && !/more input/.test(window.peerdesk.status)) {
      for (let i = 0; i < 1000; i++) motion.send(new Uint8Array([1, 0, i & 0xff, 0, 0]));
      await new Promise((r) => setTimeout(r, 50));
    }
  });
  await poll('the flooding page told', async () => /more input than a person can/.test(await status(flooder)), 15000);
  assert.match(demo.stderr, /viewer session ended: the viewer flooded its input channel/);
  assert.match(demo.stderr, /viewer session ended: the viewer sent a stream of malformed input/);

  const before = (await videoStats(calm)).framesDecoded;
  await calm.waitForTimeout(1000);
  const after = (await videoStats(calm)).framesDecoded;
  assert.ok(after - before >= 15, `the calm viewer plays on: ${after - before} frames in a second`);
  for (const p of [calm, garbage, flooder]) await p.close();
});
