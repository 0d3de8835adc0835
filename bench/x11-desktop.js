// X11 desktop benchmark: Xvfb of its own, an X client (xprobe --animate) redrawing moving
// colour bars over the middle 70% of the screen at 60 fps, `peerdesk host --source x11`, and
// Debian's Chromium. Reports per resolution: decoded fps, host CPU, per-frame capture +
// convert + encode p50/p95 and the per-stage averages (the host's own figures), bitrate; and
// the host CPU with a static screen.
//
//   cargo build && node bench/x11-desktop.js [--seconds 10]

import { cpus } from 'node:os';
import { start, startXvfb, startXprobe, stopAll, launch, waitForFrames } from '../tests/e2e/harness.js';
import { arg, steadyState } from './lib.js';

const SECONDS = Number(arg('--seconds', '10'));

async function measure(size, animate) {
  const xvfb = await startXvfb(size);
  await startXprobe(xvfb.display, undefined, animate ? ['--animate', '60'] : []);
  const server = await start(['serve', '--listen', '127.0.0.1:0'], 'listening ');
  const host = await start(['host', '--server', server.url, '--room', 'bench', '--source', 'x11',
    '--display', xvfb.display, '--status-every', String(SECONDS)], 'open ');
  const browser = await launch();
  const page = await browser.newPage();
  await page.goto(host.url);
  await waitForFrames(page, 1, 20000);
  await page.waitForTimeout(2000);
  const r = await steadyState(page, host, SECONDS);
  await browser.close_();
  await stopAll();
  return { size, animate, ...r };
}

const rows = [];
for (const size of ['1280x720', '1920x1080']) rows.push(await measure(size, true));
rows.push(await measure('1920x1080', false));
console.log(`\nmachine: ${cpus().length} x ${cpus()[0].model}; ${new Date().toISOString().slice(0, 10)}; ${SECONDS} s per row\n`);
console.log('| screen | content | decoded fps | host CPU (% of one core) | per frame p50 / p95 (ms) | capture / convert / encode avg (ms) | Mb/s |');
console.log('|---|---|---|---|---|---|---|');
for (const r of rows) {
  const s = r.status;
  console.log(`| ${r.size} | ${r.animate ? 'bars moving at 60 fps over 70%' : 'static'} | ${r.decodedFps.toFixed(1)} | ${r.hostCpu.toFixed(1)} | ${s.p50} / ${s.p95} | ${s.capture} / ${s.convert} / ${s.encode} | ${s.mbps} |`);
}
