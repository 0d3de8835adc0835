// From another machine's point of view (an address other than loopback, in a network namespace
// of the test's own): over plain http the page explains that it needs https for the pairing
// handshake; with `serve --tls-self-signed` the page (trusting exactly that certificate, as a
// user who accepted it would) and the host (`--server-ca`) use https and wss, and the stream
// plays. A host that does not trust the certificate says what to do.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { X509Certificate, createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { start, launch, makeNetns, stopAll, waitForFrames, poll, screenshot } from './harness.js';

const LAN = '198.18.0.1';
const dir = mkdtempSync(join(tmpdir(), 'peerdesk-tls-'));
let ns;
const browsers = [];

before(() => { ns = makeNetns('tls'); });

after(async () => {
  for (const b of browsers) await b.close_();
  await stopAll();
  await ns?.remove();
  rmSync(dir, { recursive: true, force: true });
});

const hostArgs = (server, extra = []) => ['host', '--server', server, '--room', 'lan', '--ephemeral-links',
  '--width', '640', '--height', '360', '--fps', '30', '--audio', 'none', ...extra];
const status = (page) => page.evaluate(() => window.peerdesk?.status ?? '');

test('over plain http from another address the page says it needs https', { timeout: 60000 }, async () => {
  const server = await start(['serve', '--listen', `${LAN}:0`], 'listening ', { netns: ns });
  assert.match(server.url, new RegExp(`^http://${LAN.replace(/\./g, '\\.')}:\\d+$`));
  await poll('the warning', () => /need https for the pairing handshake: add --tls-self-signed/.test(server.stderr), 5000);
  const host = await start(hostArgs(server.url), 'open ', { netns: ns });
  const browser = await launch({ netns: ns });
  browsers.push(browser);
  const page = await browser.newPage();
  await page.goto(host.url);
  await poll('the explanation', async () => /plain http from another machine/.test(await status(page)), 10000);
  assert.equal(await page.evaluate(() => window.isSecureContext), false);
  await screenshot(page, 'needs-https');
  await host.kill();
  await server.kill();
});

test('with a self-signed certificate the page and the host use https and wss, and the stream plays', { timeout: 90000 }, async () => {
  const server = await start(['serve', '--listen', `${LAN}:0`, '--tls-self-signed', '--state-dir', dir], 'listening ', { netns: ns, name: 'tls-serve' });
  assert.match(server.url, /^https:\/\//);
  const certPath = join(dir, 'server-cert.pem');
  const cert = new X509Certificate(readFileSync(certPath));
  // The fingerprint the server logs is the certificate's: what a person compares.
  await poll(`the fingerprint ${cert.fingerprint256} in the log`, () => server.stderr.includes(cert.fingerprint256), 5000);
  assert.match(cert.subjectAltName, new RegExp(`IP Address:${LAN}`));

  // Without --server-ca the host refuses the certificate and says how to trust it.
  const refused = await start(hostArgs(server.url), 'open ', { netns: ns, name: 'untrusting', timeoutMs: 4000 })
    .then(() => 'it connected', (e) => e.message);
  assert.match(refused, /invalid peer certificate.*--server-ca FILE/);
  const host = await start(hostArgs(server.url, ['--server-ca', certPath]), 'open ', { netns: ns });
  assert.match(host.url, /^https:\/\//);

  const spki = createHash('sha256').update(cert.publicKey.export({ type: 'spki', format: 'der' })).digest('base64');
  const browser = await launch({ netns: ns, args: [`--ignore-certificate-errors-spki-list=${spki}`] });
  browsers.push(browser);
  const page = await browser.newPage();
  await page.goto(host.url);
  await waitForFrames(page, 5, 20000);
  assert.equal(await page.evaluate(() => window.isSecureContext), true);
  assert.equal(await page.evaluate(() => window.peerdesk.role?.role), 'control');
});
