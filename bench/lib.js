// Shared pieces of the benchmarks: the command line, reading the host's own status line,
// percentiles, CPU.

import { readFileSync, readdirSync } from 'node:fs';
import { videoStats, cpuSeconds } from '../tests/e2e/harness.js';

/** The value after `--name` on the command line, as a string, or `dflt`. */
export function arg(name, dflt) {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : dflt;
}

/** CPU seconds used so far by the thread named `name` of process `pid` (from /proc). */
export function threadCpuSeconds(pid, name) {
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    if (readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim() !== name) continue;
    const fields = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  }
  return 0;
}

/** The host's last status line in `stderr` after `from`, parsed. */
export function hostStatus(stderr, from = 0) {
  const line = stderr.slice(from).split('\n').filter((l) => / fps · /.test(l)).pop() || '';
  const num = (re) => Number((line.match(re) || [])[1]);
  return {
    fps: num(/ ([0-9.]+) fps/),
    mbps: num(/([0-9.]+) Mb\/s/),
    capture: num(/capture ([0-9.]+) ms/),
    convert: num(/convert ([0-9.]+) ms/),
    encode: num(/encode ([0-9.]+) ms/),
    p50: num(/p50 ([0-9.]+) ms/),
    p95: num(/p95 ([0-9.]+) ms/),
  };
}

export function percentile(xs, p) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

/**
 * Measures `seconds` of steady state on `page` against host process `host`: decoded fps, host
 * CPU (% of one core), and the host's status line for that window.
 */
export async function steadyState(page, host, seconds) {
  const a = await videoStats(page);
  const cpu0 = cpuSeconds(host.pid);
  const t0 = Date.now();
  const from = host.stderr.length;
  await page.waitForTimeout(seconds * 1000 + 500);
  const b = await videoStats(page);
  return {
    decodedFps: ((b.framesDecoded - a.framesDecoded) * 1000) / (b.timestamp - a.timestamp),
    hostCpu: ((cpuSeconds(host.pid) - cpu0) / ((Date.now() - t0) / 1000)) * 100,
    status: hostStatus(host.stderr, from),
  };
}
