// Glass-to-glass benchmark: `peerdesk demo` (the test scene draws the Unix time in ms as a time
// code in every frame) and Debian's Chromium on this machine, one clock. For every presented
// frame (requestVideoFrameCallback) the page reads the code: glass to glass = presentation time
// minus drawing time. A key pressed every 400 ms flips the scene's marker: input to photon = the
// first presented frame showing the flip minus the moment the key went down in the page (before
// the client sent it). Reports per size: p50/p95/p99/max, frames presented per second, frames
// dropped by the browser, freezes (gaps over 100 ms between presented frames), host CPU and the
// host's own per-stage figures (its `stats` message, as the page's overlay shows them).
//
//   cargo build && node bench/latency.js [--seconds 10] [--sizes 1280x720,1920x1080] [--host-args "--fixed-bitrate"]

import { cpus } from 'node:os';
import {
  start, stopAll, launch, waitForFrames, poll, sceneLayout, startTimecodeMonitor, timecodes, timecodeCounts, cpuSeconds,
  inputToPhoton, videoStats,
} from '../tests/e2e/harness.js';
import { arg, percentile } from './lib.js';

const SECONDS = Number(arg('--seconds', '10'));
const SIZES = arg('--sizes', '1280x720,1920x1080').split(',').map((s) => s.split('x').map(Number));
const HOST_ARGS = arg('--host-args', '').split(' ').filter(Boolean);

const dropped = async (page) => (await videoStats(page)).framesDropped;

async function measure(W, H) {
  const demo = await start(['demo', '--listen', '127.0.0.1:0', '--width', String(W), '--height', String(H), '--fps', '60', ...HOST_ARGS], 'open ');
  const browser = await launch();
  const page = await browser.newPage({ viewport: { width: 1280, height: 720 } });
  await page.goto(demo.url);
  await waitForFrames(page, 1, 20000);
  await page.waitForTimeout(2000);
  const layout = sceneLayout(W, H);
  await startTimecodeMonitor(page, layout.timecode, [W, H], layout.marker);
  // Keys go to the host once the page has been clicked (the click itself flips the marker).
  await page.click('#stage', { position: { x: 10, y: 10 } });
  await page.waitForTimeout(500);
  const drop0 = await dropped(page);
  const cpu0 = cpuSeconds(demo.pid);
  const t0 = Date.now();
  // A key every 400 ms (at an odd offset from the frame clock): the scene flips its marker on
  // each, and the page times the first presented frame that shows it.
  while (Date.now() - t0 < SECONDS * 1000) {
    await page.keyboard.press('KeyA');
    await page.waitForTimeout(400 + Math.floor(Math.random() * 17));
  }
  const secs = (Date.now() - t0) / 1000;
  const i2p = await inputToPhoton(page);
  const cpu = ((cpuSeconds(demo.pid) - cpu0) / secs) * 100;
  const frames = await timecodes(page);
  const counts = await timecodeCounts(page);
  const drops = (await dropped(page)) - drop0;
  const host = await poll('host stats', () => page.evaluate(() => window.peerdesk.hostStats), 5000);
  await browser.close_();
  await stopAll();
  const g2g = frames.map((f) => f.g2g);
  const gaps = frames.slice(1).map((f, k) => f.presented - frames[k].presented);
  return {
    size: `${W}x${H}`,
    g2g,
    fps: counts.presented / secs,
    unreadable: counts.unreadable,
    drops,
    freezes: gaps.filter((g) => g > 100).length,
    cpu,
    host,
    i2p,
  };
}

const rows = [];
for (const [W, H] of SIZES) rows.push(await measure(W, H));
console.log(`\nmachine: ${cpus().length} x ${cpus()[0].model}; ${new Date().toISOString().slice(0, 10)}; ${SECONDS} s per row; test scene at 60 fps${HOST_ARGS.length ? `; host ${HOST_ARGS.join(' ')}` : ''}\n`);
console.log('| size | glass to glass p50 / p95 / p99 / max (ms) | input to photon p50 / p95 (ms, keys) | presented fps | unreadable codes | dropped | freezes > 100 ms | host CPU (% of a core) | host capture / convert / encode, per frame p50 (ms) | sent Mb/s (target; estimate) |');
console.log('|---|---|---|---|---|---|---|---|---|---|');
for (const r of rows) {
  const p = (q) => percentile(r.g2g, q).toFixed(1);
  const h = r.host;
  console.log(`| ${r.size} | ${p(50)} / ${p(95)} / ${p(99)} / ${Math.max(...r.g2g).toFixed(1)} | ${percentile(r.i2p.delays, 50).toFixed(1)} / ${percentile(r.i2p.delays, 95).toFixed(1)} (${r.i2p.delays.length} of ${r.i2p.keys}) | ${r.fps.toFixed(1)} | ${r.unreadable} | ${r.drops} | ${r.freezes} | ${r.cpu.toFixed(1)} | ${h.capture_ms.toFixed(1)} / ${h.convert_ms.toFixed(1)} / ${h.encode_ms.toFixed(1)}, ${h.frame_p50_ms.toFixed(1)} | ${h.mbps.toFixed(2)} (${h.target_mbps.toFixed(2)}; ${h.estimate_mbps === null ? 'none' : h.estimate_mbps.toFixed(2)}) |`);
}
