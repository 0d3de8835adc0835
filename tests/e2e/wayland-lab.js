// A headless Wayland desktop for the e2e tests: an unprivileged user of the tests' own (a
// session bus admits its owner only; sway refuses root), directories it owns, copies of what it
// runs (a checkout under /root or a 0700 temporary directory is closed to it), and the session
// itself (tests/e2e/wayland-session.sh: mutter with PipeWire and the portals, or sway).

import { execFileSync } from 'node:child_process';
import { mkdtempSync, chownSync, chmodSync, rmSync, copyFileSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import assert from 'node:assert/strict';
import { BIN, ROOT, start, poll, pictureRect, waitForColour } from './harness.js';

export const USER = 'peerdesk-wl';

/** waylandpaint's colours: orange, green after an odd number of key presses. */
export const ORANGE = [255, 128, 0];
export const GREEN = [0, 192, 64];

/** The user the desktop session runs as: made once, kept (a system user with a home). */
function ensureUser() {
  try {
    execFileSync('id', ['-u', USER], { stdio: 'ignore' });
  } catch {
    execFileSync('useradd', ['--create-home', '--shell', '/usr/sbin/nologin', USER]);
  }
  return Number(execFileSync('id', ['-u', USER]).toString().trim());
}

/** PIDs of the session user's processes named `name`. */
export function pidsOf(name) {
  try {
    return execFileSync('pgrep', ['-u', USER, '-x', name]).toString().trim().split('\n').map(Number);
  } catch {
    return [];
  }
}

/** The parent of process `pid`, or 0. */
function parentOf(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return 0;
  }
}

/**
 * The PID of the process named `name` (the host by default) that `proc` (a session started by
 * `WaylandLab.host`) runs, found among the session user's processes by its ancestry (runuser,
 * dbus-run-session, the session script): an older session's may still be going away.
 */
export function hostPid(proc, name = 'peerdesk') {
  return pidsOf(name).find((pid) => {
    for (let p = pid, depth = 0; p > 1 && depth < 10; p = parentOf(p), depth += 1) {
      if (p === proc.pid) return true;
    }
    return false;
  }) ?? null;
}

/** The stdout lines of `proc` so far. */
export function lines(proc) {
  return proc.out.split('\n').filter(Boolean);
}

/** The lab: `host(...)` starts a host in a fresh session, `client()` the test's Wayland client. */
export class WaylandLab {
  constructor() {
    this.uid = ensureUser();
    this.dirs = [];
    this.state = this.ownedDir('peerdesk-wl-state-');
    this.tools = this.ownedDir('peerdesk-wl-tools-');
    for (const [from, name] of [[BIN, 'peerdesk'], [join(dirname(BIN), 'desktopclick'), 'desktopclick'], [join(dirname(BIN), 'waylandpaint'), 'waylandpaint'], [join(ROOT, 'tests/e2e/wayland-session.sh'), 'wayland-session.sh']]) {
      copyFileSync(from, join(this.tools, name));
      chmodSync(join(this.tools, name), 0o755);
    }
    this.runtime = null;
  }

  /** A directory of the lab's own that the session's user owns, mode 0700. */
  ownedDir(prefix) {
    const dir = mkdtempSync(join(tmpdir(), prefix));
    chownSync(dir, this.uid, this.uid);
    chmodSync(dir, 0o700);
    this.dirs.push(dir);
    return dir;
  }

  /** The user's environment for a process in the current session (`env -i` then these). */
  env(extra = []) {
    return [`HOME=/home/${USER}`, 'PATH=/usr/bin:/bin', `XDG_RUNTIME_DIR=${this.runtime}`, ...extra];
  }

  /** `runuser ... env -i ...` for COMMAND as the session's user. */
  asUser(command, extra = []) {
    return ['runuser', '-u', USER, '--', 'env', '-i', ...this.env(extra), ...command];
  }

  /**
   * `peerdesk host --server SERVER --room ROOM --source SOURCE --audio none [ARGS]` in a fresh
   * desktop session of `compositor` ('mutter' or 'sway') at `size`; `click` ("X,Y ...") answers
   * mutter's dialog. `source`: `wayland` (the default) or `desktop`.
   */
  host(server, room, { compositor = 'mutter', size = [1280, 720], click = null, args = [], source = 'wayland' } = {}) {
    // A runtime directory of the session's own (its sockets, the Wayland display's name).
    this.runtime = this.ownedDir('peerdesk-wl-run-');
    const env = [
      `XDG_STATE_HOME=${this.state}`, 'RUST_LOG=info,zbus=error,peerdesk_capture=debug', `SIZE=${size.join('x')}`,
      `COMPOSITOR=${compositor}`, `CLICK_BIN=${join(this.tools, 'desktopclick')}`, ...(click ? [`CLICK=${click}`] : []),
    ];
    return start(['host', '--server', server.url, '--room', room, '--source', source, '--audio', 'none', ...args], 'open ', {
      command: this.asUser(['dbus-run-session', '--', join(this.tools, 'wayland-session.sh'), join(this.tools, 'peerdesk')], env),
      group: true,
      timeoutMs: 45000,
      name: `${compositor} host`,
    });
  }

  /** The current session's Wayland socket (the compositor names it wayland-N). */
  socket() {
    return poll('the session\'s Wayland socket', () => readdirSync(this.runtime).find((f) => /^wayland-\d+$/.test(f)), 10000);
  }

  /**
   * The test's own Wayland client in the current session (waylandpaint: full screen, orange,
   * green after an odd number of key presses, printing the input it gets); resolves once it is
   * on screen, with its size as `url`. `args`: more of its arguments (`--animate 60`).
   */
  async client(args = []) {
    const socket = await this.socket();
    return start([], 'ready ', {
      command: this.asUser([join(this.tools, 'waylandpaint'), '--seconds', '300', ...args], [`WAYLAND_DISPLAY=${socket}`]),
      name: 'waylandpaint',
    });
  }

  cleanup() {
    for (const dir of this.dirs) rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The page's input reaching the test's client (waylandpaint, full screen at 1280x720) through
 * `host`: a click where the page clicked, a key (the client turns green in the picture), two
 * wheel notches down, and a key held when the page closes let go of; nothing stays pressed. The
 * page is closed at the end. `firstKey`: a key sent before the client can have the keyboard
 * (headless mutter makes its virtual keyboard with the first key that comes through the portal).
 */
export async function checkInput(page, client, host, { firstKey = null } = {}) {
  // What went wrong, with what the client saw and the host said.
  const seen = (what, probe) => poll(what, probe, 10000)
    .catch((e) => { throw new Error(`${e.message}; the client saw: ${lines(client).join(' | ')}; the host said:\n${host.stderr}`); });
  const r = await pictureRect(page);
  const at = (fx, fy) => [r.left + r.width * fx, r.top + r.height * fy];
  await page.mouse.move(...at(0.5, 0.2));
  await page.mouse.move(...at(0.25, 0.5), { steps: 4 });
  await page.mouse.click(...at(0.25, 0.5));
  await seen('the click in the client', () => lines(client).includes('button 0x110 up'));
  const motions = lines(client).filter((l) => l.startsWith('motion ')).map((l) => l.split(' ').slice(1).map(Number));
  const [x, y] = motions[motions.length - 1];
  assert.ok(Math.abs(x - 320) <= 2 && Math.abs(y - 360) <= 2, `the pointer lands where the page was clicked (320,360): ${[x, y]}`);

  if (firstKey) await page.keyboard.press(firstKey);
  await seen('the keyboard focus in the client', () => lines(client).includes('focus keyboard'));
  await page.keyboard.press('KeyA');
  await seen('the key in the client', () => lines(client).includes('key 30 up'));
  // The client paints green after a key: the page shows it.
  await waitForColour(page, [1000, 600], GREEN, { timeout: 10000 });

  await page.mouse.wheel(0, 240);
  // Two notches down, in one event or two.
  const notches = () => lines(client).filter((l) => l.startsWith('notches vertical ')).reduce((n, l) => n + Number(l.split(' ')[2]), 0);
  await seen('the wheel in the client', () => notches() >= 2);
  assert.equal(notches(), 2, 'two notches, down');
  assert.ok(lines(client).some((l) => /^scroll vertical \d/.test(l)) && !lines(client).some((l) => /^scroll vertical -/.test(l)), 'it scrolls, down');

  // Held when the page goes: let go of by the host.
  await page.keyboard.down('ShiftLeft');
  await seen('shift in the client', () => lines(client).includes('key 42 down'));
  await page.close();
  await seen('shift let go', () => lines(client).includes('key 42 up'));
  const down = new Map();
  for (const l of lines(client)) {
    const m = /^(key \d+|button 0x[0-9a-f]+) (down|up)$/.exec(l);
    if (m) down.set(m[1], m[2] === 'down');
  }
  assert.deepEqual([...down].filter(([, d]) => d).map(([k]) => k), [], `nothing stays pressed: ${lines(client).join(' | ')}`);
}
