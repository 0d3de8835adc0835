// Core-loop benchmark: runs `peerdesk demo` (real binary, test scene) and Debian's Chromium on
// this machine and reports, per resolution: time from opening the page to the first decoded
// frame, decoded frames per second, the host's CPU use, and the host's own per-stage times.
//
//   node bench/core-loop.js [--seconds 10] [--runs 5]
//
// Prints a Markdown table to paste into docs/PERFORMANCE.md with the date and the machine.

import { cpus } from 'node:os';
import { start, stopAll, launch, waitForFrames } from '../tests/e2e/harness.js';
import { arg, percentile, steadyState } from './lib.js';

const SECONDS = Number(arg('--seconds', '10'));
const RUNS = Number(arg('--runs', '5'));
const CONFIGS = [
  { width: 1280, height: 720, fps: 60 },
  { width: 1920, height: 1080, fps: 60 },
];

async function measure({ width, height, fps }) {
  const demo = await start(['demo', '--listen', '127.0.0.1:0', '--width', String(width), '--height', String(height),
    '--fps', String(fps), '--status-every', String(SECONDS)], 'open ');
  const browser = await launch();
  const firstFrame = [];
  let page;
  for (let i = 0; i < RUNS; i++) {
    page?.close();
    page = await browser.newPage({ viewport: { width: 1280, height: 720 } });
    const t0 = Date.now();
    await page.goto(demo.url);
    await waitForFrames(page, 1, 20000);
    firstFrame.push(Date.now() - t0);
  }
  // Steady state: decoded fps and host CPU over SECONDS, with the host's own stage times.
  await page.waitForTimeout(1000);
  const { decodedFps, hostCpu, status } = await steadyState(page, demo, SECONDS);
  await browser.close_();
  await stopAll();
  return {
    config: `${width}x${height}@${fps}`,
    firstFrameP50: percentile(firstFrame, 50),
    firstFrameMax: Math.max(...firstFrame),
    decodedFps,
    hostCpu,
    capture: status.capture,
    convert: status.convert,
    encode: status.encode,
    mbps: status.mbps,
  };
}

const rows = [];
for (const c of CONFIGS) rows.push(await measure(c));
console.log(`\nmachine: ${cpus().length} x ${cpus()[0].model}; ${new Date().toISOString().slice(0, 10)}; ${RUNS} page loads, ${SECONDS} s steady state\n`);
console.log('| config | first frame p50 / max (ms) | decoded fps | host CPU (% of one core) | capture / convert / encode avg (ms) | video Mb/s |');
console.log('|---|---|---|---|---|---|');
for (const r of rows) {
  console.log(`| ${r.config} | ${r.firstFrameP50} / ${r.firstFrameMax} | ${r.decodedFps.toFixed(1)} | ${r.hostCpu.toFixed(0)} | ${r.capture} / ${r.convert} / ${r.encode} | ${r.mbps} |`);
}
