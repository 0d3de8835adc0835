// What the page tells a person before any video: the join form, a refused room name, a
// server that cannot be reached. Each state is in words, and screenshots land in artifacts/.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startWithPage, teardown, screenshot, poll } from './harness.js';

let server;
let browser;
let page;

before(async () => {
  ({ proc: server, browser, page } = await startWithPage(['serve', '--listen', '127.0.0.1:0'], 'listening '));
});

after(() => teardown(browser));

const status = () => page.evaluate(() => document.getElementById('status-text')?.textContent ?? '');
// A well-formed access key no host issued: enough to get past the page's own checks.
const KEY = 'A'.repeat(43);

test('without a room the page asks for the link and checks it', { timeout: 30000 }, async () => {
  await page.goto(`${server.url}/`);
  assert.equal(await page.isVisible('#join'), true);
  assert.equal(await page.isVisible('#stage'), false);
  await screenshot(page, 'join-form');
  await page.fill('#link', 'lobby');
  await page.click('#join button');
  assert.match(await page.textContent('#join .error'), /whole link the host printed/);
  await page.fill('#link', `http://elsewhere.example:8080/?room=lobby#k=${KEY}`);
  await page.click('#join button');
  // The room and key are kept; the page stays on this server.
  await page.waitForURL(`${server.url}/?room=lobby#k=${KEY}`, { timeout: 5000 });
  await poll('the waiting message', async () => /Waiting for the host of room “lobby”/.test(await status()), 5000);
});

test('a link without its access key says what is missing, without connecting', { timeout: 30000 }, async () => {
  await page.goto(`${server.url}/?room=lobby`);
  await poll('the explanation', async () => /without the link’s access key/.test(await status()), 5000);
  assert.equal(await page.getAttribute('#status', 'data-kind'), 'error');
  await screenshot(page, 'no-key');
});

test('a room name the server refuses is explained, and the page stops retrying', { timeout: 30000 }, async () => {
  await page.goto(`${server.url}/?room=${encodeURIComponent('../etc/passwd')}#k=${KEY}`);
  await poll('the refusal', async () => /The server refused: invalid room name/.test(await status()), 5000);
  assert.equal(await page.getAttribute('#status', 'data-kind'), 'error');
  await screenshot(page, 'invalid-room');
});

test('an unreachable server is said in words, with the retry delay', { timeout: 30000 }, async () => {
  await page.goto(`${server.url}/?room=lobby#k=${KEY}`);
  await poll('joined', async () => /Waiting for the host/.test(await status()), 5000);
  await server.kill('SIGKILL');
  await poll('the retry message', async () => /Cannot reach the server.*Retrying in \d+ s/.test(await status()), 10000);
  await screenshot(page, 'server-down');
});
