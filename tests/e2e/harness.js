// Shared pieces of the end-to-end tests: start real peerdesk processes, drive Debian's
// Chromium through playwright-core, read what the browser decoded. Every wait is bounded.

import { spawn, execFileSync } from 'node:child_process';
import { createServer, connect as tcpConnect } from 'node:net';
import { mkdtempSync, rmSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const BIN = process.env.PEERDESK_BIN || join(ROOT, 'target/debug/peerdesk');
export const ARTIFACTS = join(ROOT, 'tests/e2e/artifacts');

export const CHROMIUM_ARGS = [
  '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--autoplay-policy=no-user-gesture-required', '--allow-loopback-in-peer-connection',
];

/** A peerdesk process; `line` is the first stdout line matching the pattern given to `start`. */
export class Proc {
  constructor(child, name) {
    this.child = child;
    this.name = name;
    this.stderr = '';
    child.stderr?.on('data', (d) => { this.stderr = (this.stderr + d).slice(-20000); });
  }

  get pid() { return this.child.pid; }

  /** Types a line on the process's console (started with `{ console: true }`). */
  type(line) {
    this.child.stdin.write(`${line}\n`);
  }

  /**
   * Resolves with the rest of the first stdout line, printed after `after` characters of
   * output, that starts with `prefix`; at most `timeoutMs`.
   */
  waitForLine(prefix, after = 0, timeoutMs = 10000) {
    return poll(`a "${prefix}" line from ${this.name}`, () => {
      const line = this.out.slice(after).split('\n').find((l, i, all) => l.startsWith(prefix) && i < all.length - 1);
      return line ? line.slice(prefix.length).trim() : null;
    }, timeoutMs);
  }

  /** Ends the process we started (by its PID) and waits for it, at most 5 s. */
  async kill(signal = 'SIGTERM') {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((r) => this.child.once('exit', r));
    // A process group we made: every process in it is ours.
    const target = this.group ? -this.child.pid : this.child.pid;
    process.kill(target, signal);
    const timer = setTimeout(() => { try { process.kill(target, 'SIGKILL'); } catch { /* gone */ } }, 5000);
    await exited;
    clearTimeout(timer);
  }
}

const running = new Set();

// The hosts' state (their share links) goes to a directory of this run's own, not to $HOME.
const STATE_HOME = mkdtempSync(join(tmpdir(), 'peerdesk-e2e-state-'));
process.on('exit', () => rmSync(STATE_HOME, { recursive: true, force: true }));

/**
 * Starts `peerdesk ARGS...` (or `COMMAND... ARGS...`) and resolves once stdout prints a line
 * starting with `prefix` ("open " or "listening "), with the URL on that line.
 */
// Under `node --test`, hosts and demos stream with openh264 unless a test names an encoder
// (x11-desktop.test.js names x264) or PEERDESK_E2E_ENCODER names another (`auto` runs the whole
// suite on x264 where it is built in): the suite's timings were tuned with openh264, and x264
// everywhere has not been through enough runs yet (docs/decisions/0008-ffmpeg-encoders.md).
// Benchmarks (not run by `node --test`) keep the product's default, `auto`.
const E2E_ENCODER = process.env.PEERDESK_E2E_ENCODER ?? (process.env.NODE_TEST_CONTEXT ? 'openh264' : null);

/** `args` with `--encoder E2E_ENCODER` added to a host or demo command that names none. */
export function withEncoder(args) {
  if (!E2E_ENCODER || !['host', 'demo'].includes(args[0])) return args;
  if (args.some((a) => a.startsWith('--encoder') || a.startsWith('--list-'))) return args;
  return [...args, '--encoder', E2E_ENCODER];
}

export function start(argsAsked, prefix, { timeoutMs = 20000, name = argsAsked[0], env = {}, netns = null, console = false, command = [BIN], group = false } = {}) {
  const args = withEncoder(argsAsked);
  // In a namespace `ip netns exec` execs the binary itself: the PID stays the one we end. The
  // same holds for `command` (such as ['wine', 'peerdesk.exe']: Debian's wine script execs).
  const [cmd, argv] = netns ? ['ip', ['netns', 'exec', netns.name, ...command, ...args]] : [command[0], [...command.slice(1), ...args]];
  // `group`: a process group of its own, ended whole (a session of several processes).
  const child = spawn(cmd, argv, {
    stdio: [console ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    env: { ...process.env, RUST_LOG: process.env.RUST_LOG || 'info', XDG_STATE_HOME: STATE_HOME, ...env },
    detached: group,
  });
  const proc = new Proc(child, name);
  proc.group = group;
  running.add(proc);
  child.on('exit', () => running.delete(proc));
  // Every stdout line, for `waitForLine`.
  proc.out = '';
  child.stdout.on('data', (d) => { proc.out += d; });
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`${name} printed no "${prefix}" line within ${timeoutMs} ms; stderr:\n${proc.stderr}`));
    }, timeoutMs);
    child.stdout.on('data', () => {
      const line = proc.out.split('\n').find((l) => l.startsWith(prefix));
      if (line && proc.url === undefined) {
        clearTimeout(timer);
        proc.url = line.slice(prefix.length).trim();
        resolvePromise(proc);
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited with ${code} before printing "${prefix}"; stderr:\n${proc.stderr}`));
    });
  });
}

/**
 * Starts an X server of this test's own at `size` ("WxH"): Xvfb, or with `{ resizable: true }`
 * TigerVNC's Xvnc (same extensions, and RandR resizing with `xrandr -s`; no network listener).
 * Resolves with its display name once it accepts connections (the server reports the number
 * it picked on stdout: -displayfd).
 */
export function startXvfb(size = '1280x720', { resizable = false } = {}) {
  const [cmd, args] = resizable
    ? ['Xvnc', ['-displayfd', '1', '-geometry', size, '-depth', '24', '-SecurityTypes', 'None', '-localhost', '-rfbport', '-1']]
    : ['Xvfb', ['-displayfd', '1', '-nolisten', 'tcp', '-screen', '0', `${size}x24`]];
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'ignore'] });
  const proc = new Proc(child, cmd);
  running.add(proc);
  child.on('exit', () => running.delete(proc));
  return new Promise((resolvePromise, reject) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      if (out.includes('\n')) {
        proc.display = `:${out.trim()}`;
        resolvePromise(proc);
      }
    });
    child.on('exit', (code) => reject(new Error(`${cmd} exited with ${code}`)));
  });
}

/**
 * Starts a PulseAudio daemon of the test's own in `dir` (a new temporary directory unless
 * given, so a restart can reuse the same socket): a null sink `peerdesk_test` (the default
 * sink, so its monitor is the default monitor), a socket without authentication. `server` is
 * the value for PULSE_SERVER; `pactl(args)` runs pactl against it.
 */
export async function startPulse(dir = mkdtempSync(join(tmpdir(), 'peerdesk-pulse-'))) {
  for (const d of ['run', 'state', 'config']) mkdirSync(join(dir, d), { recursive: true });
  const socket = join(dir, 'native');
  const env = {
    PATH: process.env.PATH, HOME: dir, XDG_RUNTIME_DIR: join(dir, 'run'), XDG_CONFIG_HOME: join(dir, 'config'),
    PULSE_RUNTIME_PATH: join(dir, 'run'), PULSE_STATE_PATH: join(dir, 'state'),
  };
  const child = spawn('pulseaudio', [
    '-n', '--daemonize=no', '--exit-idle-time=-1', '--use-pid-file=false', '--log-target=stderr',
    `--load=module-native-protocol-unix socket=${socket} auth-anonymous=1`,
    '--load=module-null-sink sink_name=peerdesk_test rate=48000',
  ], { stdio: ['ignore', 'ignore', 'pipe'], env });
  const proc = new Proc(child, 'pulseaudio');
  running.add(proc);
  child.on('exit', () => running.delete(proc));
  proc.dir = dir;
  proc.server = `unix:${socket}`;
  proc.pactl = (args) => new Promise((resolvePromise, reject) => {
    const c = spawn('pactl', args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...env, PULSE_SERVER: proc.server } });
    let out = '';
    c.stdout.on('data', (d) => { out += d; });
    const timer = setTimeout(() => { c.kill('SIGKILL'); reject(new Error(`pactl ${args.join(' ')} hung`)); }, 5000);
    c.on('exit', (code) => { clearTimeout(timer); code === 0 ? resolvePromise(out.trim()) : reject(new Error(`pactl ${args.join(' ')} exited ${code}`)); });
  });
  await poll('PulseAudio to accept connections', () => proc.pactl(['info']).then(() => true, () => false), 10000);
  return proc;
}

/**
 * Starts listening to the page's received sound (WebAudio AnalyserNode on the stream's audio
 * track). Resolves when the analyser is running.
 */
export function listen(page) {
  return page.evaluate(async () => {
    const stream = window.peerdesk.stream;
    const ctx = new AudioContext();
    await ctx.resume();
    const source = ctx.createMediaStreamSource(new MediaStream(stream.getAudioTracks()));
    const analyser = ctx.createAnalyser();
    analyser.fftSize = 4096;
    analyser.smoothingTimeConstant = 0;
    source.connect(analyser);
    const bins = new Float32Array(analyser.frequencyBinCount);
    // The loudest frequency now and its level.
    const loudest = () => {
      analyser.getFloatFrequencyData(bins);
      let best = 1;
      for (let i = 2; i < bins.length; i++) if (bins[i] > bins[best]) best = i;
      return { hz: (best * ctx.sampleRate) / analyser.fftSize, db: bins[best] };
    };
    window.__listen = { ctx, source, loudest };
    return ctx.state;
  });
}

/**
 * Starts timing, in the page, every onset of the test scene's beat: in the picture (the beat
 * square turning white in a presented frame, by requestVideoFrameCallback) and in the sound
 * (the received audio turning loud after silence, by a ScriptProcessor on the track; the time
 * is when that sample plays, output device latency included), and when the receiver played
 * out (delivered to the track) the audio frame starting each beat. Times are Unix epoch milliseconds of this machine's clock, so
 * they compare with the host's. Also records a log of loud frequencies ({t, hz}) for beeps.
 * `beat` is the beat square's centre as fractions of the picture's width and height.
 */
export async function startAvMonitor(page, beat) {
  await listen(page);
  return page.evaluate(([fx, fy]) => {
    const video = document.getElementById('video');
    const epoch = (perfMs) => performance.timeOrigin + perfMs;
    const m = { video: [], audio: [], tones: [], playout: [], playoutSamples: [] };
    window.__av = m;
    const canvas = document.createElement('canvas');
    canvas.width = 4;
    canvas.height = 4;
    const g = canvas.getContext('2d', { willReadFrequently: true });
    let white = false;
    const onFrame = (now, meta) => {
      if (video.videoWidth) {
        const sx = fx * video.videoWidth;
        const sy = fy * video.videoHeight;
        g.drawImage(video, sx - 2, sy - 2, 4, 4, 0, 0, 4, 4);
        const d = g.getImageData(1, 1, 1, 1).data;
        const isWhite = d[0] > 200 && d[1] > 200 && d[2] > 200;
        if (isWhite && !white) m.video.push(epoch(Math.max(now, meta.expectedDisplayTime ?? now)));
        white = isWhite;
      }
      video.requestVideoFrameCallback(onFrame);
    };
    video.requestVideoFrameCallback(onFrame);

    const { ctx, source, loudest } = window.__listen;
    const proc = ctx.createScriptProcessor(256, 1, 1);
    source.connect(proc);
    // A ScriptProcessor only runs while connected to the output; it writes silence there.
    proc.connect(ctx.destination);
    let loud = false;
    let quietSince = 0;
    proc.onaudioprocess = (e) => {
      const x = e.inputBuffer.getChannelData(0);
      const out = ctx.getOutputTimestamp();
      for (let i = 0; i < x.length; i += 16) {
        let energy = 0;
        for (let j = i; j < i + 16; j++) energy += x[j] * x[j];
        const t = e.playbackTime + i / ctx.sampleRate;
        const isLoud = energy / 16 > 1e-3;
        if (isLoud && !loud && t - quietSince > 0.3) {
          m.audio.push(epoch(out.performanceTime + (t - out.contextTime) * 1000));
        }
        if (!isLoud && loud) quietSince = t;
        loud = isLoud;
      }
    };
    setInterval(() => {
      const l = loudest();
      if (l.db > -50) m.tones.push({ t: Date.now(), hz: l.hz });
      if (m.tones.length > 5000) m.tones.splice(0, 1000);
    }, 10);
    // When the receiver played out the frame starting at each beat: the scene's RTP clock counts
    // samples from the scene's start, so a beat starts a frame whose RTP time is a multiple of
    // 48000. The synchronization source says when the latest frame was delivered to the track.
    const receiver = window.peerdesk.pc.getReceivers().find((r) => r.track.kind === 'audio');
    let lastRtp = null;
    setInterval(() => {
      const src = receiver.getSynchronizationSources()[0];
      if (!src || src.rtpTimestamp === lastRtp) return;
      lastRtp = src.rtpTimestamp;
      m.playoutSamples.push({ rtp: src.rtpTimestamp, t: src.timestamp });
      if (m.playoutSamples.length > 3000) m.playoutSamples.splice(0, 1000);
      if (src.rtpTimestamp % 48000 === 0) m.playout.push(src.timestamp);
    }, 4);
    window.__avKeep = { proc };
  }, beat);
}

/**
 * Starts reading the test scene's time code from every presented frame (requestVideoFrameCallback):
 * for each, how long ago it was drawn (glass to glass, ms: presentation time minus the time code,
 * both this machine's Unix clock) and when it was presented. `tc` is sceneLayout(W, H).timecode
 * for the scene's W x H. Read the results with `timecodes(page)`.
 */
export function startTimecodeMonitor(page, tc, [W, H], marker = null) {
  return page.evaluate(([tc, W, H, marker]) => {
    const video = document.getElementById('video');
    const m = { frames: [], presented: 0, unreadable: 0, marks: [], keys: [] };
    // With the scene's marker position: whether each presented frame shows the marker "on"
    // (magenta, red above 128; cyan when off), and when each key went down in this page
    // (capture phase, before the client sends it), for input-to-photon.
    if (marker) window.addEventListener('keydown', () => m.keys.push(performance.timeOrigin + performance.now()), true);
    const mc = document.createElement('canvas');
    mc.width = 1;
    mc.height = 1;
    const mg = mc.getContext('2d', { willReadFrequently: true });
    window.__tc = m;
    const canvas = document.createElement('canvas');
    const g = canvas.getContext('2d', { willReadFrequently: true });
    // The brightness of points of the presented frame. From the decoder's own planes when the
    // frame has them (a software-decoded I420 frame: only the rows asked for are copied),
    // otherwise through a canvas (which converts the whole frame to RGB first: a cost the
    // benchmark would add to the browser's every frame).
    let planes = typeof VideoFrame === 'function';
    async function lumaAt(points) {
      if (planes) {
        let f = null;
        try {
          f = new VideoFrame(video);
          if (f.format === 'I420' || f.format === 'NV12' || f.format === 'I420A') {
            const y0 = Math.max(0, Math.min(...points.map((p) => p[1])) & ~1);
            const y1 = Math.min(f.codedHeight, (Math.max(...points.map((p) => p[1])) + 2) & ~1);
            const rect = { x: 0, y: y0, width: f.codedWidth, height: Math.max(2, y1 - y0) };
            const buf = new Uint8Array(f.allocationSize({ rect }));
            const layout = await f.copyTo(buf, { rect });
            return points.map(([x, y]) => buf[layout[0].offset + (y - y0) * layout[0].stride + x]);
          }
          planes = false;
        } catch {
          planes = false;
        } finally {
          f?.close();
        }
      }
      return null;
    }
    const onFrame = async (now, meta) => {
      // Asked for again at once: the copy below takes a moment, and a frame presented meanwhile
      // must not be missed.
      video.requestVideoFrameCallback(onFrame);
      const vw = video.videoWidth;
      const vh = video.videoHeight;
      if (vw && vh) {
        const sx = vw / W;
        const sy = vh / H;
        const w = tc.block * 32 * sx;
        const h = tc.h * sy;
        const row = Math.floor(tc.y * sy + h / 2);
        const bits = [...Array(32).keys()].map((bit) => [Math.floor(tc.x * sx + (bit + 0.5) * (w / 32)), row]);
        const spots = marker ? [...bits, [Math.floor(marker[0] * sx), Math.floor(marker[1] * sy)]] : bits;
        // When the frame shows: the browser's expected display time, but never before the
        // moment the page hears of the frame (\`now\`): headless Chromium sometimes names a
        // display time a whole frame period before that, which would shorten the figure by as
        // much, depending on the phase between its clock and the host's.
        const presented = performance.timeOrigin + Math.max(now, meta.expectedDisplayTime ?? now);
        // Places kept now, filled once read: the reads finish in their own order.
        const entry = { presented, g2g: null };
        m.frames.push(entry);
        if (m.frames.length > 20000) m.frames.splice(0, 5000);
        const mark = marker ? { presented, on: null } : null;
        if (mark) {
          m.marks.push(mark);
          if (m.marks.length > 20000) m.marks.splice(0, 5000);
        }
        m.presented += 1;
        let luma = await lumaAt(spots);
        let markerOn = null;
        if (luma) {
          // The scene's "on" magenta is darker than its "off" cyan: luma about 125 against 149
          // (limited range; 127 against 155 in full range).
          if (marker) markerOn = luma[32] < 138;
        } else {
          canvas.width = Math.ceil(w);
          canvas.height = Math.ceil(h);
          g.drawImage(video, tc.x * sx, tc.y * sy, w, h, 0, 0, canvas.width, canvas.height);
          const px = g.getImageData(0, 0, canvas.width, canvas.height).data;
          const r = Math.floor(canvas.height / 2);
          luma = [...Array(32).keys()].map((bit) => {
            const i = (r * canvas.width + Math.floor((bit + 0.5) * (canvas.width / 32))) * 4;
            return (px[i] + px[i + 1] + px[i + 2]) / 3;
          });
          if (marker) {
            mg.drawImage(video, marker[0] * sx, marker[1] * sy, 1, 1, 0, 0, 1, 1);
            markerOn = mg.getImageData(0, 0, 1, 1).data[0] > 128;
          }
        }
        let code = 0;
        let clean = true;
        for (let bit = 0; bit < 32; bit++) {
          if (luma[bit] > 60 && luma[bit] < 195) clean = false;
          code = code * 2 + (luma[bit] >= 128 ? 1 : 0);
        }
        if (mark) mark.on = markerOn;
        // The code is the low 32 bits of the drawing time.
        let g2g = (presented % 4294967296) - code;
        if (g2g < -2147483648) g2g += 4294967296;
        if (clean) entry.g2g = g2g;
        else {
          entry.unreadable = true;
          m.unreadable += 1;
        }
        m.planes = planes;
      }
    };
    video.requestVideoFrameCallback(onFrame);
  }, [tc, W, H, marker]);
}

/**
 * Input to photon, from a monitor started with the marker: for every key that went down, the
 * time from then to the first presented frame whose marker differs from the one before the key.
 */
export async function inputToPhoton(page) {
  return page.evaluate(() => {
    const { keys } = window.__tc;
    const marks = window.__tc.marks.filter((f) => f.on !== null);
    const out = [];
    for (const k of keys) {
      const before = [...marks].reverse().find((f) => f.presented <= k);
      const after = before && marks.find((f) => f.presented > k && f.on !== before.on);
      if (after) out.push(after.presented - k);
    }
    return { delays: out, keys: keys.length };
  });
}

/** The frames read so far: [{presented (epoch ms), g2g (ms)}]. */
export function timecodes(page) {
  return page.evaluate(() => window.__tc.frames.filter((f) => f.g2g !== null));
}

/**
 * Frames presented and frames whose time code could not be read, so far, and whether the codes
 * are read from the decoder's planes (true) or through a canvas (false).
 */
export function timecodeCounts(page) {
  return page.evaluate(() => ({ presented: window.__tc.presented, unreadable: window.__tc.unreadable, planes: window.__tc.planes }));
}

/**
 * What the monitor saw so far: {video, audio, playout: [epoch ms], tones: [{t, hz}],
 * playoutSamples: [{rtp, t}]}.
 */
export function avOnsets(page) {
  return page.evaluate(() => window.__av);
}

/**
 * Pairs each audio onset with the nearest video onset: the offsets (audio minus video, ms),
 * leaving out onsets more than 500 ms from a partner.
 */
export function avOffsets({ video, audio }) {
  const out = [];
  for (const a of audio) {
    let best = null;
    for (const v of video) if (best === null || Math.abs(a - v) < Math.abs(a - best)) best = v;
    if (best !== null && Math.abs(a - best) < 500) out.push(a - best);
  }
  return out;
}

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)] : NaN;
}

/** The loudest frequency the page hears now and its level: {hz, db}. */
export function loudest(page) {
  return page.evaluate(() => window.__listen.loudest());
}

/** Runs `xrandr ARGS` on `display`; resolves when it has finished. */
export function xrandr(display, args) {
  return new Promise((resolvePromise, reject) => {
    const child = spawn('xrandr', args, { stdio: 'ignore', env: { ...process.env, DISPLAY: display } });
    child.on('exit', (code) => (code === 0 ? resolvePromise() : reject(new Error(`xrandr ${args.join(' ')} exited ${code}`))));
  });
}

/**
 * Starts `xprobe` on `display`: it paints known fields, takes the focus, and reports every X
 * input event it gets. `events` collects them; `waitFor(pred)` waits for a matching one.
 */
export function startXprobe(display, fields, extra = []) {
  const args = ['--display', display, ...extra];
  if (fields) args.push('--fields', fields);
  const child = spawn(join(dirname(BIN), 'xprobe'), args, { stdio: ['pipe', 'pipe', 'pipe'] });
  const proc = new Proc(child, 'xprobe');
  running.add(proc);
  child.on('exit', () => running.delete(proc));
  proc.events = [];
  let buf = '';
  const waiters = [];
  child.stdout.on('data', (d) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      const ev = JSON.parse(line);
      proc.events.push(ev);
      for (const w of [...waiters]) if (w.pred(ev)) { waiters.splice(waiters.indexOf(w), 1); w.resolve(ev); }
    }
  });
  proc.waitFor = (pred, what = 'an X event', timeout = 5000) => {
    const seen = proc.events.find(pred);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolvePromise, reject) => {
      const w = { pred, resolve: (ev) => { clearTimeout(w.timer); resolvePromise(ev); } };
      w.timer = setTimeout(() => {
        waiters.splice(waiters.indexOf(w), 1);
        reject(new Error(`xprobe saw no ${what} within ${timeout} ms; last events: ${JSON.stringify(proc.events.slice(-5))}`));
      }, timeout);
      waiters.push(w);
    });
  };
  return proc.waitFor((e) => e.type === 'ready', 'ready line', 10000).then(() => proc);
}

/** `xclip` copies `text` on X display `display` (it stays the owner in the background). */
export function xclipCopy(display, text) {
  return new Promise((resolvePromise, reject) => {
    const child = spawn('xclip', ['-selection', 'clipboard', '-i', '-display', display], { stdio: ['pipe', 'ignore', 'ignore'] });
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolvePromise() : reject(new Error(`xclip -i exited with ${code}`))));
    child.stdin.end(text);
  });
}

/** What pasting on X display `display` gives, or null when nothing is there. */
export function xclipPaste(display) {
  try {
    return execFileSync('xclip', ['-selection', 'clipboard', '-o', '-display', display], { timeout: 5000, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    return null;
  }
}

/** Runs `peerdesk ARGS` to its end (at most `timeoutMs`); resolves with its exit code and output. */
export function run(args, { env = {}, timeoutMs = 20000 } = {}) {
  const child = spawn(BIN, withEncoder(args), { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => { stdout += d; });
  child.stderr.on('data', (d) => { stderr += d; });
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`peerdesk ${args.join(' ')} did not end within ${timeoutMs} ms`)); }, timeoutMs);
    child.on('exit', (code, signal) => { clearTimeout(timer); resolvePromise({ code, signal, stdout, stderr }); });
  });
}

/** Resolves with the exit code once `proc` ends (at most `timeoutMs`). */
export function exited(proc, timeoutMs = 20000) {
  if (proc.child.exitCode !== null) return Promise.resolve(proc.child.exitCode);
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => reject(new Error(`${proc.name} did not exit within ${timeoutMs} ms`)), timeoutMs);
    proc.child.once('exit', (code) => { clearTimeout(timer); resolvePromise(code); });
  });
}

/** The processes started and still running. */
export function runningProcs() {
  return [...running];
}

/** CPU seconds (user + system) process `pid` has used so far, from /proc (USER_HZ = 100). */
export function cpuSeconds(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Ends every process this file started. */
export async function stopAll() {
  await Promise.all([...running].map((p) => p.kill('SIGKILL')));
}

/**
 * Turns IPv6 off in network namespace `name` (before its links come up). An interface's IPv6
 * link-local address finishes its duplicate-address check a second or two after the link comes
 * up; Chromium reads that as the network changing and fails the loads in flight with
 * ERR_NETWORK_CHANGED, so a page that happened to be loading then stayed blank (the tests and
 * benchmarks in namespaces timed out "waiting for 1 decoded frames" now and then). Nothing here
 * uses IPv6.
 */
function noIpv6(name) {
  execFileSync('ip', ['netns', 'exec', name, 'sh', '-c',
    'echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6 && echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6'],
  { stdio: ['ignore', 'pipe', 'pipe'] });
}

/**
 * A network namespace of the test's own (loopback and a veth pair): processes started in it
 * (`start(..., { netns })`, `launch({ netns })`) talk over its loopback only, where `impair`
 * can drop packets (iptables statistic) or cap the bandwidth (tbf) without touching the
 * machine's own network. `remove()` deletes it.
 */
export function makeNetns(tag) {
  const name = `peerdesk-${tag}-${process.pid}`;
  const ip = (...a) => execFileSync('ip', a, { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
  ip('netns', 'add', name);
  try {
    noIpv6(name);
    ip('-n', name, 'link', 'set', 'lo', 'up');
    // Chromium gathers no ICE candidates on a machine whose only interface is loopback: give
    // it a veth pair (both ends inside), with an address from the range set aside for
    // benchmarks (RFC 2544). Its traffic never leaves the namespace (a local address goes over
    // loopback).
    ip('-n', name, 'link', 'add', 'pd0', 'type', 'veth', 'peer', 'name', 'pd1');
    ip('-n', name, 'addr', 'add', '198.18.0.1/32', 'dev', 'pd0');
    ip('-n', name, 'link', 'set', 'pd0', 'up');
    ip('-n', name, 'link', 'set', 'pd1', 'up');
  } catch (e) {
    ip('netns', 'del', name);
    throw e;
  }
  const inNs = (cmd, ...a) => execFileSync('ip', ['netns', 'exec', name, cmd, ...a], { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
  return {
    name,
    /** Drops UDP packets (the media; the signaling is TCP) with probability `p` (0 for none). */
    dropUdp(p) {
      inNs('iptables', '-F', 'INPUT');
      if (p > 0) inNs('iptables', '-A', 'INPUT', '-p', 'udp', '-m', 'statistic', '--mode', 'random', '--probability', String(p), '-j', 'DROP');
    },
    /** UDP packets dropped so far by `dropUdp`'s rule. */
    droppedUdp() {
      const m = inNs('iptables', '-L', 'INPUT', '-n', '-v', '-x').split('\n').find((l) => l.includes('DROP'));
      return m ? Number(m.trim().split(/\s+/)[0]) : 0;
    },
    /**
     * Delays every UDP packet by `ms` each way (a round trip of twice that) through our
     * user-space delayer (NFQUEUE; the kernel here has no netem). Resolves once it runs.
     */
    async delayUdp(ms) {
      const child = spawn('ip', ['netns', 'exec', name, join(dirname(BIN), 'netdelay'), '--queue', '7', '--delay-ms', String(ms)], { stdio: ['ignore', 'pipe', 'pipe'] });
      const proc = new Proc(child, 'netdelay');
      running.add(proc);
      child.on('exit', () => running.delete(proc));
      await new Promise((resolvePromise, reject) => {
        const timer = setTimeout(() => reject(new Error(`netdelay did not start: ${proc.stderr}`)), 10000);
        child.stdout.on('data', (d) => { if (String(d).includes('ready')) { clearTimeout(timer); resolvePromise(); } });
        child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`netdelay exited with ${code}: ${proc.stderr}`)); });
      });
      inNs('iptables', '-A', 'OUTPUT', '-p', 'udp', '-j', 'NFQUEUE', '--queue-num', '7', '--queue-bypass');
      this.delayer = proc;
    },
    /**
     * Caps the namespace's loopback at `kbit` kbit/s with a token bucket (tbf) whose queue holds
     * at most `latencyMs` of traffic: a bottleneck link. 0 removes it.
     */
    capBandwidth(kbit, latencyMs = 200) {
      try { inNs('tc', 'qdisc', 'del', 'dev', 'lo', 'root'); } catch { /* none yet */ }
      if (kbit > 0) inNs('tc', 'qdisc', 'add', 'dev', 'lo', 'root', 'tbf', 'rate', `${kbit}kbit`, 'burst', '16kb', 'latency', `${latencyMs}ms`);
    },
    /** Packets the bandwidth cap's queue dropped so far (it was full). */
    cappedDrops() {
      const m = /dropped (\d+)/.exec(inNs('tc', '-s', 'qdisc', 'show', 'dev', 'lo'));
      return m ? Number(m[1]) : 0;
    },
    async remove() {
      await this.delayer?.kill();
      try { ip('netns', 'del', name); } catch { /* already gone */ }
    },
  };
}

/**
 * Launches Chromium with a fresh profile directory (inside `netns` when given), with `args`
 * added and Playwright context `options` (a phone: `{ hasTouch: true, isMobile: true, ... }`).
 */
export async function launch({ netns = null, args = [], options = {} } = {}) {
  const profile = mkdtempSync(join(tmpdir(), 'peerdesk-chromium-'));
  let executablePath = '/usr/bin/chromium';
  if (netns) {
    executablePath = join(profile, 'chromium-in-netns');
    writeFileSync(executablePath, `#!/bin/sh\nexec ip netns exec ${netns.name} /usr/bin/chromium "$@"\n`, { mode: 0o755 });
  }
  const context = await chromium.launchPersistentContext(join(profile, 'profile'), {
    executablePath,
    headless: true,
    args: [...CHROMIUM_ARGS, ...args],
    viewport: { width: 1280, height: 720 },
    ...options,
  });
  context.close_ = async () => {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  };
  context.profileDir = profile;
  return context;
}

/**
 * CPU seconds used so far by the processes of a Chromium from `launch` that still run (the
 * browser, its renderers, GPU and utility processes: every process naming its profile folder).
 */
export function browserCpuSeconds(context) {
  let sum = 0;
  for (const pid of readdirSync('/proc').filter((d) => /^[0-9]+$/.test(d))) {
    try {
      if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(context.profileDir)) sum += cpuSeconds(pid);
    } catch {
      // Gone meanwhile.
    }
  }
  return sum;
}

/**
 * The usual start of a test file: `peerdesk ARGS` (waiting for its `prefix` line), a fresh
 * Chromium and one page in it.
 */
export async function startWithPage(args, prefix) {
  const proc = await start(args, prefix);
  const browser = await launch();
  const page = await browser.newPage();
  return { proc, browser, page };
}

/**
 * `peerdesk demo` on a free port with `args` added, and a page of a fresh Chromium showing its
 * first decoded frame.
 */
export async function startDemoPage(args = []) {
  const { proc, browser, page } = await startWithPage(['demo', '--listen', '127.0.0.1:0', ...args], 'open ');
  await page.goto(proc.url);
  await waitForFrames(page, 1);
  return { proc, browser, page };
}

/** Waits until the page's stream has the host's audio track. */
export function waitForAudioTrack(page, timeout = 10000) {
  return poll('an audio track', () => page.evaluate(() => window.peerdesk.stream?.getAudioTracks().length > 0), timeout);
}

/** The usual end of a test file: close the browser, end every process the file started. */
export async function teardown(browser) {
  await browser?.close_();
  await stopAll();
}

export async function screenshot(page, name) {
  mkdirSync(ARTIFACTS, { recursive: true });
  const path = join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path });
  return path;
}

/**
 * Inbound video statistics of the page's current connection (with the repair counters: NACKs
 * and PLIs sent, packets lost and resent, keyframes decoded, frames dropped) and the host's
 * latest `stats` message, or null before there is a video stream.
 */
export function videoStats(page) {
  return page.evaluate(async () => {
    const pc = window.peerdesk?.pc;
    if (!pc) return null;
    const report = await pc.getStats();
    let v = null;
    report.forEach((s) => { if (s.type === 'inbound-rtp' && s.kind === 'video') v = s; });
    if (!v) return null;
    const video = document.getElementById('video');
    return {
      framesDecoded: v.framesDecoded || 0,
      width: video.videoWidth,
      height: video.videoHeight,
      timestamp: v.timestamp,
      state: pc.connectionState,
      keyFramesDecoded: v.keyFramesDecoded || 0,
      framesDropped: v.framesDropped || 0,
      nacks: v.nackCount || 0,
      plis: v.pliCount || 0,
      lost: v.packetsLost || 0,
      retransmitted: v.retransmittedPacketsReceived ?? null,
      host: window.peerdesk.hostStats ?? null,
    };
  });
}

/** Polls `probe` every 100 ms until it returns a truthy value; fails after `timeout` ms. */
export async function poll(what, probe, timeout = 15000) {
  const deadline = Date.now() + timeout;
  let last;
  while (Date.now() < deadline) {
    last = await probe();
    if (last) return last;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
}

/** Waits until at least `min` frames are decoded on the page's current connection. */
export function waitForFrames(page, min = 1, timeout = 15000) {
  return poll(`${min} decoded frames`, async () => {
    const s = await videoStats(page);
    return s && s.framesDecoded >= min && s.width > 0 ? s : null;
  }, timeout);
}

/** Decoded frames per second over `ms` milliseconds, from getStats. */
export async function measureFps(page, ms = 3000) {
  const a = await videoStats(page);
  await page.waitForTimeout(ms);
  const b = await videoStats(page);
  return ((b.framesDecoded - a.framesDecoded) * 1000) / (b.timestamp - a.timestamp);
}

/** RGB of the current video frame at each [x, y] (video pixels), read through a canvas. */
export function pixels(page, points) {
  return page.evaluate((pts) => {
    const v = document.getElementById('video');
    const c = document.createElement('canvas');
    c.width = v.videoWidth;
    c.height = v.videoHeight;
    const g = c.getContext('2d', { willReadFrequently: true });
    g.drawImage(v, 0, 0);
    return pts.map(([x, y]) => Array.from(g.getImageData(x, y, 1, 1).data.slice(0, 3)));
  }, points);
}

/** Waits until the video shows colour `rgb` (within `tol`) at video pixel [x, y]. */
export async function waitForColour(page, [x, y], rgb, { tol = 40, timeout = 5000 } = {}) {
  await page.waitForFunction(({ x, y, rgb, tol }) => {
    const v = document.getElementById('video');
    if (!v.videoWidth) return false;
    const c = document.createElement('canvas');
    c.width = v.videoWidth;
    c.height = v.videoHeight;
    const g = c.getContext('2d', { willReadFrequently: true });
    g.drawImage(v, 0, 0);
    const d = g.getImageData(x, y, 1, 1).data;
    return Math.abs(d[0] - rgb[0]) <= tol && Math.abs(d[1] - rgb[1]) <= tol && Math.abs(d[2] - rgb[2]) <= tol;
  }, { x, y, rgb, tol }, { timeout, polling: 50 });
}

export function near(actual, expected, tol = 40) {
  return actual.every((c, i) => Math.abs(c - expected[i]) <= tol);
}

/** Where the test scene draws its fixed elements at width x height (crates/peerdesk-capture/src/scene.rs). */
export function sceneLayout(w, h) {
  const s = Math.floor(h / 4);
  const mx = Math.floor((w * 6) / 100);
  const my = Math.floor(h / 10);
  const right = w - mx - s;
  const bottom = h - my - s;
  const m = Math.floor(h / 5);
  const centre = (x, y, side) => [x + Math.floor(side / 2), y + Math.floor(side / 2)];
  return {
    patches: [centre(mx, my, s), centre(right, my, s), centre(mx, bottom, s), centre(right, bottom, s)],
    marker: centre(Math.floor((w - m) / 2), Math.floor((h - m) / 2), m),
    beat: centre(Math.floor((w - Math.floor(h / 8)) / 2), my, Math.floor(h / 8)),
    timecode: (() => {
      const block = Math.min(Math.max(Math.floor(w / 48), 4), Math.floor(w / 32));
      const th = Math.floor(h / 24);
      return { x: Math.floor((w - block * 32) / 2), y: h - th - (h < 480 ? 2 : 4), block, h: th };
    })(),
    dotRadius: Math.max(4, Math.floor(h / 60)),
  };
}

// The scene's colours (RGB), as in scene.rs.
export const PATCH_COLOURS = [[230, 50, 50], [50, 200, 80], [50, 90, 230], [240, 210, 50]];
export const MARKER_OFF = [40, 200, 220];
export const MARKER_ON = [230, 60, 200];
export const BACKGROUND = [22, 26, 34];
export const DOT = [255, 255, 255];

/** The client rectangle where the video's picture is drawn (object-fit: contain). */
export function pictureRect(page) {
  return page.evaluate(() => {
    const v = document.getElementById('video');
    const r = v.getBoundingClientRect();
    const scale = Math.min(r.width / v.videoWidth, r.height / v.videoHeight);
    const w = v.videoWidth * scale;
    const h = v.videoHeight * scale;
    return { left: r.left + (r.width - w) / 2, top: r.top + (r.height - h) / 2, width: w, height: h, scale, vw: v.videoWidth, vh: v.videoHeight };
  });
}

/**
 * Starts coturn (Debian's `turnserver`) of the test's own on `ip` (in `netns` when given): UDP
 * on a free port, the TURN REST scheme with `secret` (use-auth-secret, as `peerdesk serve
 * --turn-secret-file` expects), relaying allowed to loopback peers (tests run on one machine).
 * Resolves once it listens, with `url` (turn:IP:PORT?transport=udp) and its log in `stdout`.
 */
export async function startTurn(secret, { ip = '127.0.0.1', netns = null } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'peerdesk-turn-'));
  const port = 20000 + Math.floor(Math.random() * 20000);
  const relayBase = 40000 + Math.floor(Math.random() * 200) * 100;
  // The secret goes in a config file of our own (mode 0600), not on the command line.
  const conf = join(dir, 'turnserver.conf');
  writeFileSync(conf, [
    `listening-ip=${ip}`, `relay-ip=${ip}`, `listening-port=${port}`,
    `min-port=${relayBase}`, `max-port=${relayBase + 99}`,
    'use-auth-secret', `static-auth-secret=${secret}`, 'realm=peerdesk.test',
    'allow-loopback-peers', 'no-cli', 'no-tls', 'no-dtls', 'no-tcp', 'fingerprint',
    'log-file=stdout', 'simple-log', 'verbose',
  ].join('\n') + '\n', { mode: 0o600 });
  const [cmd, argv] = netns ? ['ip', ['netns', 'exec', netns.name, 'turnserver', '-c', conf]] : ['turnserver', ['-c', conf]];
  const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  const proc = new Proc(child, 'turnserver');
  proc.out = '';
  child.stdout.on('data', (d) => { proc.out = (proc.out + d).slice(-200000); });
  running.add(proc);
  child.on('exit', () => { running.delete(proc); rmSync(dir, { recursive: true, force: true }); });
  proc.url = `turn:${ip}:${port}?transport=udp`;
  await poll('coturn to listen', () => /listener opened on|Total UDP servers/i.test(proc.out) || child.exitCode !== null, 10000);
  if (child.exitCode !== null) throw new Error(`turnserver exited: ${proc.out}${proc.stderr}`);
  return proc;
}

/**
 * Starts Debian's redis-server on a free loopback port (no persistence, a directory of its
 * own); resolves once it accepts connections. `proc.url` is redis://127.0.0.1:PORT.
 */
export async function startRedis() {
  const dir = mkdtempSync(join(tmpdir(), 'peerdesk-redis-'));
  const port = 20000 + Math.floor(Math.random() * 20000);
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '',
    '--appendonly', 'no', '--dir', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
  const proc = new Proc(child, 'redis-server');
  proc.out = '';
  child.stdout.on('data', (d) => { proc.out = (proc.out + d).slice(-20000); });
  running.add(proc);
  child.on('exit', () => { running.delete(proc); rmSync(dir, { recursive: true, force: true }); });
  proc.url = `redis://127.0.0.1:${port}`;
  await poll('redis-server to accept connections', () => /Ready to accept connections/.test(proc.out) || child.exitCode !== null, 10000);
  if (child.exitCode !== null) throw new Error(`redis-server exited: ${proc.out}${proc.stderr}`);
  return proc;
}

/**
 * A TCP load balancer in front of `backends` (["http://127.0.0.1:PORT", ...]), as a
 * deployment puts before several `peerdesk serve`: each new connection goes to the first
 * backend that accepts it, in order (so a test knows where its clients land while every
 * backend lives). Resolves with { url, close(), counts } on 127.0.0.1.
 */
export function startBalancer(backends) {
  const targets = backends.map((u) => new URL(u));
  const counts = targets.map(() => 0);
  const sockets = new Set();
  const server = createServer((client) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => {});
    client.pause();
    const tryFrom = (i) => {
      if (i >= targets.length || client.destroyed) { client.destroy(); return; }
      const upstream = tcpConnect({ host: targets[i].hostname, port: Number(targets[i].port) });
      upstream.once('error', () => { upstream.destroy(); tryFrom(i + 1); });
      upstream.once('connect', () => {
        counts[i] += 1;
        sockets.add(upstream);
        upstream.removeAllListeners('error');
        upstream.on('error', () => client.destroy());
        upstream.on('close', () => { sockets.delete(upstream); client.destroy(); });
        client.on('close', () => upstream.destroy());
        client.pipe(upstream);
        upstream.pipe(client);
        client.resume();
      });
    };
    tryFrom(0);
  });
  return new Promise((resolvePromise) => {
    server.listen(0, '127.0.0.1', () => {
      resolvePromise({
        url: `http://127.0.0.1:${server.address().port}`,
        counts,
        close: () => new Promise((r) => { for (const s of sockets) s.destroy(); server.close(() => r()); }),
      });
    });
  });
}

/** A counter or gauge from a server's /metrics. */
export async function metric(serverUrl, name) {
  const text = await (await fetch(`${serverUrl}/metrics`)).text();
  const m = text.match(new RegExp(`^peerdesk_${name} (\\S+)$`, 'm'));
  if (!m) throw new Error(`no ${name} in ${serverUrl}/metrics`);
  return Number(m[1]);
}

/**
 * Three network namespaces of the test's own, the shape of two homes and the internet between
 * them: `host` (10.77.1.2) and `browser` (10.77.2.2) each reach `mid` (10.77.1.1 and 10.77.2.1,
 * their default gateway; servers and coturn live there), and `mid` forwards nothing between
 * them until `route(true)`: no path from one home to the other but through a relay in `mid`.
 */
export function makeNatLab(tag) {
  const names = { mid: `pd-${tag}-m-${process.pid}`, host: `pd-${tag}-h-${process.pid}`, browser: `pd-${tag}-b-${process.pid}` };
  const ip = (...a) => execFileSync('ip', a, { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
  const made = [];
  try {
    for (const n of Object.values(names)) {
      ip('netns', 'add', n);
      made.push(n);
      noIpv6(n);
      ip('-n', n, 'link', 'set', 'lo', 'up');
    }
    const wire = (side, net) => {
      const inside = `${side[0]}0`;
      const outside = `m${side[0]}`;
      ip('link', 'add', inside, 'netns', names[side], 'type', 'veth', 'peer', 'name', outside, 'netns', names.mid);
      ip('-n', names[side], 'addr', 'add', `10.77.${net}.2/24`, 'dev', inside);
      ip('-n', names.mid, 'addr', 'add', `10.77.${net}.1/24`, 'dev', outside);
      ip('-n', names[side], 'link', 'set', inside, 'up');
      ip('-n', names.mid, 'link', 'set', outside, 'up');
      ip('-n', names[side], 'route', 'add', 'default', 'via', `10.77.${net}.1`);
    };
    wire('host', 1);
    wire('browser', 2);
  } catch (e) {
    for (const n of made) { try { ip('netns', 'del', n); } catch { /* gone */ } }
    throw e;
  }
  const ns = (name) => ({ name });
  return {
    mid: ns(names.mid),
    host: ns(names.host),
    browser: ns(names.browser),
    /** Lets `mid` forward between the two homes (a direct path), or not. */
    route(on) {
      execFileSync('ip', ['netns', 'exec', names.mid, 'sysctl', '-q', '-w', `net.ipv4.ip_forward=${on ? 1 : 0}`]);
    },
    /**
     * Puts the host's home behind a NAT in `mid` (masquerading to the browser's side, letting
     * back only replies), as a home router does; `false` takes it away.
     */
    nat(on) {
      const ipt = (...a) => execFileSync('ip', ['netns', 'exec', names.mid, 'iptables', ...a], { stdio: ['ignore', 'pipe', 'pipe'] });
      ipt('-t', 'nat', '-F', 'POSTROUTING');
      ipt('-F', 'FORWARD');
      if (!on) return;
      ipt('-t', 'nat', '-A', 'POSTROUTING', '-s', '10.77.1.0/24', '-o', 'mb', '-j', 'MASQUERADE');
      ipt('-A', 'FORWARD', '-i', 'mb', '-o', 'mh', '-m', 'conntrack', '--ctstate', 'ESTABLISHED,RELATED', '-j', 'ACCEPT');
      ipt('-A', 'FORWARD', '-i', 'mb', '-o', 'mh', '-j', 'DROP');
      this.route(true);
    },
    remove() {
      for (const n of Object.values(names)) { try { ip('netns', 'del', n); } catch { /* gone */ } }
    },
  };
}

/** The page's selected ICE candidate pair: its two ends' types and addresses, or null. */
export function selectedPair(page) {
  return page.evaluate(async () => {
    const pc = window.peerdesk?.pc;
    if (!pc) return null;
    const stats = await pc.getStats();
    let pair = null;
    stats.forEach((s) => {
      if (s.type === 'transport' && s.selectedCandidatePairId) pair = stats.get(s.selectedCandidatePairId);
    });
    if (!pair) return null;
    const end = (id) => { const c = stats.get(id); return c ? { type: c.candidateType, address: c.address, port: c.port } : null; };
    return { local: end(pair.localCandidateId)?.type, remote: end(pair.remoteCandidateId)?.type,
      localAddress: end(pair.localCandidateId)?.address, remoteAddress: end(pair.remoteCandidateId)?.address };
  });
}
