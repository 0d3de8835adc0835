// Signaling under load: `loadgen` (crates/peerdesk-testkit) drives PAIRS simulated hosts and
// browsers through full joins and offer/answer/candidate exchanges, holds the connections, then
// relays RATE messages a second for SECONDS. Reported for `peerdesk serve`, for two instances
// sharing rooms over Redis (every host on one, every viewer on the other: each message crosses
// Redis) and, in the same run, for a minimal Node.js `ws` relay (bench/ws-relay.js, the classic
// design): connections held, server memory per idle connection, relay latency p50/p99,
// messages relayed a second, server CPU.
//
//   cargo build --workspace && (ulimit -n 20000; node bench/load.js [--pairs 9990] [--rate 5000] [--seconds 10])
//
// One process may hold 20,000 files here: 9,990 pairs (19,980 connections) is the most one
// loadgen and one server can hold.

import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { start, startRedis, cpuSeconds, BIN } from '../tests/e2e/harness.js';
import { arg } from './lib.js';

const PAIRS = Number(arg('--pairs', '9990'));
const RATE = Number(arg('--rate', '5000'));
const SECONDS = Number(arg('--seconds', '10'));
const LOADGEN = join(dirname(BIN), 'loadgen');
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

const rssKib = (pid) => Number(readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+)/)[1]);

/** Runs loadgen against `url`; calls `onConnected` when its connections are up and idle. */
function loadgen(url, viewerUrl, sources, onConnected) {
  return new Promise((resolve, reject) => {
    const child = spawn(LOADGEN, ['--url', url, '--viewer-url', viewerUrl, '--pairs', String(PAIRS), '--rate', String(RATE), '--seconds', String(SECONDS), '--hold-secs', '2',
      '--sources', sources],
      { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    let done = null;
    child.stdout.on('data', (d) => {
      out += d;
      for (const line of out.split('\n').slice(0, -1)) {
        const m = JSON.parse(line);
        if (m.phase === 'connected' && !m.seen) onConnected(m);
        if (m.phase === 'done') done = m;
      }
      out = out.slice(out.lastIndexOf('\n') + 1);
    });
    child.on('exit', (code) => (done ? resolve(done) : reject(new Error(`loadgen exited ${code}`))));
  });
}

// Each run connects from loopback addresses of its own: the previous run's closed connections
// linger in TIME_WAIT on their ports.
let run = 0;
const nextSources = () => { run += 1; return [1, 2, 3, 4].map((i) => `127.0.${run}.${i}`).join(','); };

/** Runs loadgen with hosts on `servers[0]` and viewers on the last; the servers' figures summed. */
async function measure(name, servers, extra = []) {
  const all = [...servers, ...extra];
  const base = all.map((p) => rssKib(p.pid));
  const rss = () => all.reduce((sum, p, i) => sum + rssKib(p.pid) - base[i], 0);
  const cpu = () => all.reduce((sum, p) => sum + cpuSeconds(p.pid), 0);
  const ws = (p) => (p.url.startsWith('ws') ? p.url : `${p.url.replace('http', 'ws')}/ws`);
  let idle = null;
  let cpuAtRelay = 0;
  const result = await loadgen(ws(servers[0]), ws(servers[servers.length - 1]), nextSources(), (m) => {
    idle = { connections: m.connections, kib: rss(), seconds: m.seconds };
    // The relay starts after loadgen's 2 s hold.
    setTimeout(() => { cpuAtRelay = cpu(); }, 2000);
  });
  const used = cpu() - cpuAtRelay;
  for (const p of all) await p.kill();
  return {
    name,
    connections: result.connections,
    failed_pairs: result.failed_pairs,
    join_seconds: result.handshake_seconds.toFixed(1),
    kib_per_idle_connection: (idle.kib / Math.max(1, idle.connections)).toFixed(1),
    relayed_per_second: result.rate_per_second.toFixed(0),
    p50_ms: result.latency_ms.p50.toFixed(2),
    p99_ms: result.latency_ms.p99.toFixed(2),
    max_ms: result.latency_ms.max.toFixed(1),
    server_cpu_pct: ((used / (SECONDS + 2)) * 100).toFixed(0),
    failures: result.failures,
  };
}

const serveArgs = ['serve', '--listen', '127.0.0.1:0', '--max-conns-per-ip', '100000', '--max-connections', '100000', '--max-rooms', '100000'];
const rows = [];
rows.push(await measure('peerdesk serve', [await start(serveArgs, 'listening ')]));
const redis = await startRedis();
const shared = [...serveArgs, '--redis', redis.url];
const pair = [await start(shared, 'listening '), await start(shared, 'listening ')];
rows.push(await measure('2 x peerdesk serve over Redis (incl. redis-server)', pair, [redis]));
const node = await new Promise((resolve, reject) => {
  const child = spawn(process.execPath, [join(ROOT, 'bench/ws-relay.js')], { stdio: ['ignore', 'pipe', 'inherit'] });
  const proc = { pid: child.pid, kill: () => new Promise((r) => { child.once('exit', r); child.kill(); }) };
  child.stdout.on('data', (d) => { const m = String(d).match(/listening (\S+)/); if (m) { proc.url = m[1]; resolve(proc); } });
  child.on('exit', (code) => reject(new Error(`ws-relay exited ${code}`)));
});
rows.push(await measure('Node.js ws relay', [node]));

console.log(`\n${PAIRS} pairs (${PAIRS * 2} connections), ${RATE} messages/s for ${SECONDS} s`);
console.log('| server | connections held | failed pairs | join + exchange (s) | KiB per idle connection | relayed/s | relay p50 (ms) | p99 (ms) | max (ms) | server CPU (% of a core) |');
console.log('|---|---|---|---|---|---|---|---|---|---|');
for (const r of rows) {
  console.log(`| ${r.name} | ${r.connections} | ${r.failed_pairs} | ${r.join_seconds} | ${r.kib_per_idle_connection} | ${r.relayed_per_second} | ${r.p50_ms} | ${r.p99_ms} | ${r.max_ms} | ${r.server_cpu_pct} |`);
  if (r.failures.length) console.log(`  ${r.name} failures: ${r.failures.join('; ')}`);
}
const [p, , n] = rows;
console.log(`\nratio node/peerdesk: memory per connection ${(n.kib_per_idle_connection / p.kib_per_idle_connection).toFixed(2)}x, p99 ${(n.p99_ms / p.p99_ms).toFixed(2)}x, CPU ${(n.server_cpu_pct / Math.max(1, p.server_cpu_pct)).toFixed(2)}x`);
process.exit(0);
