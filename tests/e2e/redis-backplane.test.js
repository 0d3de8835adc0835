// Two `peerdesk serve` instances sharing one Redis (Debian's redis-server, started here) behind
// a TCP load balancer of the test's own: the host lands on instance A, the browser talks to
// instance B, and the video plays (the offer, answer and candidates crossed Redis). Then A is
// killed without a word: the stream goes on (media never passed through it), the host comes
// back through the balancer to B, and a new browser joins the room through B and plays.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  start, startRedis, startBalancer, metric, launch, teardown, waitForFrames, videoStats, poll, screenshot,
} from './harness.js';

const ROOM = 'shared';
let redis;
let a;
let b;
let balancer;
let browser;

const serve = () => start(['serve', '--listen', '127.0.0.1:0', '--redis', redis.url, '--redis-ttl', '3s'], 'listening ');

before(async () => {
  redis = await startRedis();
  a = await serve();
  b = await serve();
  balancer = await startBalancer([a.url, b.url]);
  browser = await launch();
});

after(async () => {
  await teardown(browser);
  await balancer?.close();
});

test('a host on one instance and a browser on another pair and stream; killing the host\'s instance, the pair recovers through the other', { timeout: 120000 }, async () => {
  const host = await start(['host', '--server', balancer.url, '--room', ROOM, '--ephemeral-links',
    '--width', '640', '--height', '360', '--fps', '30', '--audio', 'none'], 'open ');
  assert.equal(balancer.counts[0], 1, 'the host went to instance A');
  assert.equal(await metric(a.url, 'websockets_open'), 1);
  // The page comes from instance B and signals through it.
  const link = new URL(host.url);
  const onB = `${b.url}/${link.search}${link.hash}`;
  const page = await browser.newPage();
  const told = [];
  page.on('websocket', (ws) => ws.on('framereceived', (f) => {
    if (typeof f.payload === 'string' && /"host_(online|offline)"/.test(f.payload)) told.push(JSON.parse(f.payload));
  }));
  await page.goto(onB);
  await waitForFrames(page, 10, 20000);
  assert.equal(await metric(b.url, 'websockets_open'), 1, 'the browser is on instance B');
  assert.ok(await metric(a.url, 'backplane_published_total') > 0, 'A published the host\'s answer and candidates');
  assert.ok(await metric(b.url, 'backplane_received_total') > 0, 'B received them');
  const lag = await metric(b.url, 'backplane_lag_seconds');
  assert.ok(lag > 0 && lag < 1, `the backplane's lag is measured: ${lag} s`);

  // Instance A dies without a word.
  const pcBefore = await page.evaluateHandle(() => window.peerdesk.pc);
  const before = await videoStats(page);
  await a.kill('SIGKILL');
  await page.waitForTimeout(4000);
  const during = await videoStats(page);
  assert.ok(during.framesDecoded - before.framesDecoded >= 80,
    `frames with the host's instance dead: ${during.framesDecoded - before.framesDecoded} in 4 s`);
  assert.equal(during.state, 'connected');

  // The host comes back through the balancer to B, once A's claim on the room lapses.
  const joins = () => (host.stderr.match(/joined the signaling server/g) || []).length;
  await poll('the host to join again through B', () => joins() >= 2, 30000);
  assert.equal(balancer.counts[1] >= 1, true, 'B took the host');
  assert.equal(await metric(b.url, 'websockets_open'), 2, 'host and browser both on B');
  // B told the page its host's instance died, then that the host is back, with a new number.
  await poll('host_online from B', () => told.some((m) => m.type === 'host_online'), 10000);
  const types = told.map((m) => m.type);
  assert.deepEqual(types.slice(-2), ['host_offline', 'host_online'], `the page was told: ${types}`);

  // The first page still plays; a new browser joins the room through the balancer and plays.
  await page.waitForTimeout(1000);
  const still = await videoStats(page);
  assert.ok(still.framesDecoded > during.framesDecoded, 'the first page still plays');
  const second = await browser.newPage();
  await second.goto(`${balancer.url}/${link.search}${link.hash}`);
  await waitForFrames(second, 10, 20000);
  await screenshot(second, 'backplane-after-instance-death');
  const after = await videoStats(page);
  assert.ok(after.framesDecoded > still.framesDecoded, 'and the first page plays on');
  assert.ok(await page.evaluate((old) => window.peerdesk.pc === old, pcBefore), 'on the connection it had all along');
  await host.kill();
});

test('two hosts racing for one room on two instances: one gets it, the other is told', { timeout: 60000 }, async () => {
  // A new instance in place of the dead one.
  a = await serve();
  const args = (url) => ['host', '--server', url, '--room', 'raced', '--ephemeral-links', '--width', '320',
    '--height', '180', '--fps', '10', '--audio', 'none'];
  const results = await Promise.allSettled([start(args(a.url), 'open '), start(args(b.url), 'open ')]);
  const won = results.filter((r) => r.status === 'fulfilled');
  const lost = results.filter((r) => r.status === 'rejected');
  assert.equal(won.length, 1, `exactly one host holds the room: ${results.map((r) => r.status)}`);
  assert.match(String(lost[0].reason), /already has a host|room .*taken|another host/i);
  await won[0].value.kill();
});
