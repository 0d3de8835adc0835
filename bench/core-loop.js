// Core-loop benchmark: runs `peerdesk demo` (real binary, test scene) and Debian's Chromium on
// this machine and reports, per resolution: time from opening the page to the first decoded
// frame, decoded frames per second, the host's CPU use, and the host's own per-stage times.
//
//   node bench/core-loop.js [--seconds 10] [--runs 5]
//
// Prints a Markdown table to paste into docs/PERFORMANCE.md with the date and the machine.

import { cpus } from 'node:os';
import { start, stopAll, launch, waitForFrames, videoStats, cpuSeconds } from '../tests/e2e/harness.js';

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const SECONDS = arg('seconds', 10);
const RUNS = arg('runs', 5);
const CONFIGS = [
  { width: 1280, height: 720, fps: 60 },
  { width: 1920, height: 1080, fps: 60 },
];

function percentile(xs, p) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

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
  const a = await videoStats(page);
  const cpu0 = cpuSeconds(demo.pid);
  const t0 = Date.now();
  const statusBefore = demo.stderr.length;
  await page.waitForTimeout(SECONDS * 1000 + 500);
  const b = await videoStats(page);
  const cpu = ((cpuSeconds(demo.pid) - cpu0) / ((Date.now() - t0) / 1000)) * 100;
  const decodedFps = ((b.framesDecoded - a.framesDecoded) * 1000) / (b.timestamp - a.timestamp);
  const status = demo.stderr.slice(statusBefore).split('\n').filter((l) => / fps · /.test(l)).pop() || '';
  const stage = (name) => Number((status.match(new RegExp(`${name} ([0-9.]+) ms`)) || [])[1]);
  await browser.close_();
  await stopAll();
  return {
    config: `${width}x${height}@${fps}`,
    firstFrameP50: percentile(firstFrame, 50),
    firstFrameMax: Math.max(...firstFrame),
    decodedFps,
    hostCpu: cpu,
    capture: stage('capture'),
    convert: stage('convert'),
    encode: stage('encode'),
    mbps: Number((status.match(/([0-9.]+) Mb\/s/) || [])[1]),
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
