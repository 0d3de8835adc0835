// `peerdesk host --source x11` on an Xvfb of the test's own, with xprobe (an X client that
// paints known fields and records input) on it: the browser sees the fields where they are, and
// what the browser types and clicks arrives on the X side as the same physical keys and pixels.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  start, run, startXvfb, startXprobe, launch, teardown, screenshot, waitForFrames, pixels, near, pictureRect, poll,
} from './harness.js';

let xvfb;
let probe;
let server;
let browser;
let page;
let encoder;
const ROOM = 'x11';

// xprobe's default fields (x, y, w, h, RGB).
const FIELDS = [
  [40, 40, 200, 120, [0xe6, 0x28, 0x28]],
  [560, 40, 200, 120, [0x28, 0xdc, 0x3c]],
  [40, 440, 200, 120, [0x32, 0x50, 0xf0]],
  [560, 440, 200, 120, [0xf0, 0xd2, 0x32]],
];

before(async () => {
  xvfb = await startXvfb('1024x640');
  probe = await startXprobe(xvfb.display);
  server = await start(['serve', '--listen', '127.0.0.1:0'], 'listening ');
  // With FFmpeg built in (as scripts/test.sh builds it), the desktop goes through x264.
  const list = await run(['host', '--list-encoders']);
  encoder = /^\s*x264\s+works/m.test(list.stdout) ? 'x264' : 'openh264';
  const host = await start(['host', '--server', server.url, '--room', ROOM, '--source', 'x11', '--display', xvfb.display, '--encoder', encoder], 'open ');
  browser = await launch();
  page = await browser.newPage();
  await page.goto(host.url);
  await waitForFrames(page, 1);
});

after(() => teardown(browser));

test('the desktop streams at its native size with the fields where the X client drew them', { timeout: 30000 }, async () => {
  const size = await page.evaluate(() => [document.getElementById('video').videoWidth, document.getElementById('video').videoHeight]);
  assert.deepEqual(size, [1024, 640]);
  const centres = FIELDS.map(([x, y, w, h]) => [x + w / 2, y + h / 2]);
  const got = await pixels(page, centres);
  FIELDS.forEach(([, , , , c], i) => assert.ok(near(got[i], c), `field ${i}: ${got[i]} vs ${c}`));
  const bg = await pixels(page, [[400, 300]]);
  assert.ok(near(bg[0], [20, 20, 20], 12), `background ${bg[0]}`);
  const stats = await poll('the host\'s stats', () => page.evaluate(() => window.peerdesk.hostStats), 5000);
  assert.equal(stats.encoder, encoder, `the host says it encodes with ${encoder}`);
  await screenshot(page, 'x11-desktop');
});

// KeyboardEvent.code, expected X keycode (evdev + 8), expected keysym (unshifted, us layout).
const KEYS = [
  ['KeyA', 38, 0x61], ['KeyZ', 52, 0x7a], ['Digit1', 10, 0x31], ['Digit0', 19, 0x30], ['Minus', 20, 0x2d],
  ['Equal', 21, 0x3d], ['BracketLeft', 34, 0x5b], ['Semicolon', 47, 0x3b], ['Quote', 48, 0x27],
  ['Backquote', 49, 0x60], ['Backslash', 51, 0x5c], ['Comma', 59, 0x2c], ['Period', 60, 0x2e], ['Slash', 61, 0x2f],
  ['Space', 65, 0x20], ['Enter', 36, 0xff0d], ['Tab', 23, 0xff09], ['Backspace', 22, 0xff08], ['Escape', 9, 0xff1b],
  ['ArrowLeft', 113, 0xff51], ['ArrowUp', 111, 0xff52], ['ArrowRight', 114, 0xff53], ['ArrowDown', 116, 0xff54],
  ['Home', 110, 0xff50], ['End', 115, 0xff57], ['PageUp', 112, 0xff55], ['PageDown', 117, 0xff56],
  ['Insert', 118, 0xff63], ['Delete', 119, 0xffff], ['F1', 67, 0xffbe], ['F2', 68, 0xffbf], ['F10', 76, 0xffc7], ['F12', 96, 0xffc9],
  ['Numpad5', 84, null], ['NumpadAdd', 86, 0xffab], ['NumpadEnter', 104, 0xff8d],
  ['ShiftLeft', 50, 0xffe1], ['ShiftRight', 62, 0xffe2], ['ControlLeft', 37, 0xffe3], ['ControlRight', 105, 0xffe4],
  ['AltLeft', 64, 0xffe9], ['MetaLeft', 133, 0xffeb],
];

test('keys arrive as the same physical keys, with their keysyms', { timeout: 60000 }, async () => {
  await page.click('#stage', { position: { x: 5, y: 360 } });
  for (const [code, keycode, keysym] of KEYS) {
    const from = probe.events.length;
    await page.keyboard.down(code);
    await page.keyboard.up(code);
    const press = await probe.waitFor((e) => e.type === 'key_press' && e.keycode === keycode, `press of ${code}`);
    await probe.waitFor((e) => e.type === 'key_release' && e.keycode === keycode, `release of ${code}`);
    if (keysym !== null) assert.equal(press.keysym, keysym, `${code} keysym 0x${press.keysym.toString(16)}`);
    const stray = probe.events.slice(from).filter((e) => e.type === 'key_press' && e.keycode !== keycode);
    assert.deepEqual(stray, [], `only ${code} was pressed`);
    probe.events.length = 0;
  }
});

test('modifiers combine: Shift+A gives a capital A', { timeout: 30000 }, async () => {
  await page.keyboard.down('ShiftLeft');
  await page.keyboard.press('KeyA');
  await page.keyboard.up('ShiftLeft');
  const a = await probe.waitFor((e) => e.type === 'key_press' && e.keycode === 38, 'press of A');
  assert.ok(a.state & 1, 'Shift is in the state');
  assert.equal(a.keysym, 0x41, 'keysym A');
  probe.events.length = 0;
});

test('a held key repeats as often as the browser repeats it, never doubled by the X server', { timeout: 30000 }, async () => {
  probe.events.length = 0;
  // 1.5 s of holding: 30 browser repeats 50 ms apart, well past X's 660 ms repeat delay.
  const downs = 31;
  await page.keyboard.down('KeyK');
  for (let i = 1; i < downs; i++) {
    await page.waitForTimeout(50);
    await page.keyboard.down('KeyK');
  }
  await page.keyboard.up('KeyK');
  await probe.waitFor((e) => e.type === 'key_release' && e.keycode === 45 && probe.events.filter((x) => x.type === 'key_press').length >= downs, 'the last release of K');
  await page.waitForTimeout(300);
  const presses = probe.events.filter((e) => e.type === 'key_press' && e.keycode === 45).length;
  assert.equal(presses, downs, `one press per browser key-down, got ${presses}`);
  probe.events.length = 0;
});

test('characters without a physical key are typed anyway, with the right keysym', { timeout: 30000 }, async () => {
  probe.events.length = 0;
  // Trusted key events with a character and no physical key code, as a virtual keyboard or an
  // IME produces them (sent through the DevTools protocol).
  const cdp = await page.context().newCDPSession(page);
  for (const [ch, keysym] of [['é', 0xe9], ['€', 0x10020ac], ['ß', 0xdf], ['é', 0xe9]]) {
    await cdp.send('Input.dispatchKeyEvent', { type: 'keyDown', key: ch, text: ch, unmodifiedText: ch, code: '' });
    await cdp.send('Input.dispatchKeyEvent', { type: 'keyUp', key: ch, code: '' });
    const ev = await probe.waitFor((e) => e.type === 'key_press' && e.keysym === keysym, `${ch} (keysym 0x${keysym.toString(16)})`);
    assert.ok(ev.keycode > 8);
    probe.events.length = 0;
  }
});

test('clicks land on the same pixel of the desktop, also letterboxed', { timeout: 60000 }, async () => {
  for (const viewport of [{ width: 1024, height: 640 }, { width: 900, height: 800 }, { width: 1400, height: 500 }]) {
    await page.setViewportSize(viewport);
    const r = await pictureRect(page);
    // Not under the bar at the top centre (its buttons take their own clicks).
    for (const [vx, vy] of [[0, 0], [1023, 639], [512, 320], [101, 577], [900, 95]]) {
      probe.events.length = 0;
      await page.mouse.click(r.left + (vx + 0.5) * r.scale, r.top + (vy + 0.5) * r.scale);
      const ev = await probe.waitFor((e) => e.type === 'button_press' && e.button === 1, `click at ${vx},${vy}`);
      assert.ok(Math.abs(ev.x - vx) <= 1 && Math.abs(ev.y - vy) <= 1, `click at ${vx},${vy} landed at ${ev.x},${ev.y} (${JSON.stringify(viewport)})`);
      await probe.waitFor((e) => e.type === 'button_release' && e.button === 1, 'release');
    }
  }
  await page.setViewportSize({ width: 1280, height: 720 });
});

test('right and middle buttons, and the wheel both ways', { timeout: 30000 }, async () => {
  const r = await pictureRect(page);
  await page.mouse.move(r.left + 300 * r.scale, r.top + 300 * r.scale);
  probe.events.length = 0;
  await page.mouse.click(r.left + 300 * r.scale, r.top + 300 * r.scale, { button: 'right' });
  await probe.waitFor((e) => e.type === 'button_press' && e.button === 3, 'right button');
  await page.mouse.click(r.left + 300 * r.scale, r.top + 300 * r.scale, { button: 'middle' });
  await probe.waitFor((e) => e.type === 'button_press' && e.button === 2, 'middle button');
  await page.mouse.wheel(0, 100);
  await probe.waitFor((e) => e.type === 'button_press' && e.button === 5, 'wheel down');
  await page.mouse.wheel(0, -100);
  await probe.waitFor((e) => e.type === 'button_press' && e.button === 4, 'wheel up');
  await page.mouse.wheel(100, 0);
  await probe.waitFor((e) => e.type === 'button_press' && e.button === 7, 'wheel right');
});

test('the cursor an X client sets becomes the page\'s cursor, hotspot included; hidden stays hidden', { timeout: 30000 }, async () => {
  const cursorCss = () => page.evaluate(() => document.getElementById('video').style.cursor);
  probe.events.length = 0;
  probe.child.stdin.write('cursor-red\n');
  await probe.waitFor((e) => e.type === 'cursor-set', 'cursor change');
  const css = await poll('the red cursor in the page', async () => {
    const c = await cursorCss();
    return c.startsWith('url(') && / 3 5, auto$/.test(c) ? c : null;
  }, 10000);
  const img = await page.evaluate(async (css) => {
    const url = css.match(/url\("?([^")]*)"?\)/)[1];
    const im = new Image();
    im.src = url;
    await im.decode();
    const c = document.createElement('canvas');
    c.width = im.width;
    c.height = im.height;
    const g = c.getContext('2d');
    g.drawImage(im, 0, 0);
    return { w: im.width, h: im.height, left: Array.from(g.getImageData(2, 8, 1, 1).data), right: Array.from(g.getImageData(12, 8, 1, 1).data) };
  }, css);
  assert.deepEqual([img.w, img.h], [16, 16]);
  assert.equal(img.left[3], 0, 'left half transparent');
  assert.deepEqual(img.right, [255, 0, 0, 255], 'right half opaque red');
  probe.child.stdin.write('cursor-hide\n');
  await poll('the hidden cursor', async () => (await cursorCss()) === 'none', 10000);
});

test('pointer lock sends relative motion, the host moves relatively, and the page draws the host\'s cursor there', { timeout: 30000 }, async () => {
  const r = await pictureRect(page);
  probe.child.stdin.write('cursor-red\n');
  await probe.waitFor((e) => e.type === 'cursor-set', 'the red cursor');
  await page.mouse.click(r.left + 500.5 * r.scale, r.top + 300.5 * r.scale);
  await probe.waitFor((e) => e.type === 'button_release' && e.x === 500 && e.y === 300, 'the click that places the pointer');
  // Activate the lock button from the keyboard, so the mouse stays where it is.
  await page.focus('#lock');
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => document.pointerLockElement === document.getElementById('stage'), null, { timeout: 5000 });
  probe.events.length = 0;
  // Locked: the page sees movementX/Y only; the host pointer moves by the same amounts.
  const at = { x: r.left + 500.5 * r.scale, y: r.top + 300.5 * r.scale };
  await page.mouse.move(at.x + 30, at.y + 20);
  await probe.waitFor((e) => e.type === 'motion' && e.x === 530 && e.y === 320, 'relative motion to 530,320');
  await page.mouse.move(at.x + 10, at.y + 50);
  await probe.waitFor((e) => e.type === 'motion' && e.x === 510 && e.y === 350, 'relative motion to 510,350');
  // The browser hides its own pointer while locked; the page draws the host's cursor with its
  // hotspot (3, 5) on the middle of host pixel 510,350.
  const want = { x: r.left + 510.5 * r.scale - 3, y: r.top + 350.5 * r.scale - 5 };
  const drawn = await poll('the host cursor drawn at 510,350', async () => {
    const box = await page.evaluate(() => {
      const el = document.getElementById('host-cursor');
      if (el.hidden) return null;
      const b = el.getBoundingClientRect();
      return { x: b.left, y: b.top, w: b.width, h: b.height, bg: getComputedStyle(el).backgroundImage };
    });
    return box && Math.abs(box.x - want.x) <= 1 && Math.abs(box.y - want.y) <= 1 ? box : null;
  }, 5000);
  assert.equal(drawn.w, 16);
  assert.ok(drawn.bg.startsWith('url("data:image/png'), drawn.bg);
  // The button gave the keyboard back to the stream: keys reach the desktop while locked.
  await page.keyboard.press('KeyL');
  await probe.waitFor((e) => e.type === 'key_press' && e.keycode === 46, 'press of L while locked');
  await page.evaluate(() => document.exitPointerLock());
  await poll('the drawn cursor gone after unlocking', () => page.evaluate(() => document.getElementById('host-cursor').hidden), 5000);
  probe.events.length = 0;
});

test('in fullscreen the keyboard is locked: Escape reaches the desktop, Ctrl+Alt+Shift+Q gets out', { timeout: 30000 }, async () => {
  await page.click('#fullscreen');
  await poll('fullscreen with the keyboard locked', () => page.evaluate(() => window.peerdesk.fullscreen && window.peerdesk.keyboardLocked), 5000);
  probe.events.length = 0;
  await page.keyboard.press('Escape');
  await probe.waitFor((e) => e.type === 'key_press' && e.keycode === 9, 'press of Escape');
  assert.ok(await page.evaluate(() => window.peerdesk.fullscreen), 'Escape did not end fullscreen');
  await page.keyboard.down('ControlLeft');
  await page.keyboard.down('AltLeft');
  await page.keyboard.down('ShiftLeft');
  await page.keyboard.press('KeyQ');
  await page.keyboard.up('ShiftLeft');
  await page.keyboard.up('AltLeft');
  await page.keyboard.up('ControlLeft');
  await poll('out of fullscreen, keyboard free', () => page.evaluate(() => !window.peerdesk.fullscreen && !window.peerdesk.keyboardLocked), 5000);
  assert.ok(!probe.events.some((e) => e.type === 'key_press' && e.keycode === 24), 'the chord\'s Q stayed on the page');
  probe.events.length = 0;
});

test('back and forward buttons arrive as X buttons 8 and 9', { timeout: 30000 }, async () => {
  const r = await pictureRect(page);
  const cdp = await page.context().newCDPSession(page);
  const at = { x: r.left + 300 * r.scale, y: r.top + 300 * r.scale };
  for (const [button, xbutton] of [['back', 8], ['forward', 9]]) {
    probe.events.length = 0;
    for (const type of ['mousePressed', 'mouseReleased']) {
      await cdp.send('Input.dispatchMouseEvent', { type, x: at.x, y: at.y, button, clickCount: 1 });
    }
    await probe.waitFor((e) => e.type === 'button_press' && e.button === xbutton, `${button} (X button ${xbutton})`);
    await probe.waitFor((e) => e.type === 'button_release' && e.button === xbutton, `${button} released`);
  }
});

test('keys and buttons held when the page loses focus are released', { timeout: 30000 }, async () => {
  const r = await pictureRect(page);
  probe.events.length = 0;
  await page.keyboard.down('KeyW');
  await page.mouse.move(r.left + 200 * r.scale, r.top + 200 * r.scale);
  await page.mouse.down();
  await probe.waitFor((e) => e.type === 'key_press' && e.keycode === 25, 'press of W');
  await probe.waitFor((e) => e.type === 'button_press' && e.button === 1, 'button down');
  // The window loses focus (the user switched windows): everything held is let go.
  await page.evaluate(() => window.dispatchEvent(new Event('blur')));
  await probe.waitFor((e) => e.type === 'key_release' && e.keycode === 25, 'release of W on blur');
  await probe.waitFor((e) => e.type === 'button_release' && e.button === 1, 'button release on blur');
  await page.keyboard.up('KeyW');
  await page.mouse.up();
  probe.events.length = 0;
});

test('keys and buttons held when the tab is hidden are released', { timeout: 30000 }, async () => {
  const r = await pictureRect(page);
  probe.events.length = 0;
  await page.keyboard.down('KeyE');
  await page.mouse.move(r.left + 220 * r.scale, r.top + 220 * r.scale);
  await page.mouse.down();
  await probe.waitFor((e) => e.type === 'key_press' && e.keycode === 26, 'press of E');
  await probe.waitFor((e) => e.type === 'button_press' && e.button === 1, 'button down');
  // The tab is hidden (the user switched tabs). Headless Chromium never hides a tab, neither for
  // another tab nor a minimised window, so the page is told the way the browser tells it: the
  // visibility state turns 'hidden' and a visibilitychange event fires, without a blur.
  await page.evaluate(() => {
    Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => 'hidden' });
    Object.defineProperty(document, 'hidden', { configurable: true, get: () => true });
    document.dispatchEvent(new Event('visibilitychange'));
  });
  await probe.waitFor((e) => e.type === 'key_release' && e.keycode === 26, 'release of E when hidden');
  await probe.waitFor((e) => e.type === 'button_release' && e.button === 1, 'button release when hidden');
  await page.evaluate(() => {
    delete document.visibilityState;
    delete document.hidden;
    document.dispatchEvent(new Event('visibilitychange'));
  });
  await page.keyboard.up('KeyE');
  await page.mouse.up();
  probe.events.length = 0;
});

test('media keys that X knows arrive as the same keys', { timeout: 30000 }, async () => {
  await page.click('#stage', { position: { x: 5, y: 360 } });
  const cdp = await page.context().newCDPSession(page);
  // Playwright's keyboard has no codes for these; the DevTools protocol sends them as a
  // keyboard with media keys would.
  const MEDIA = [
    ['AudioVolumeMute', 173, 121, 0x1008ff12],
    ['AudioVolumeDown', 174, 122, 0x1008ff11],
    ['AudioVolumeUp', 175, 123, 0x1008ff13],
    ['MediaTrackNext', 176, 171, 0x1008ff17],
    ['MediaPlayPause', 179, 172, 0x1008ff14],
  ];
  for (const [code, vk, keycode, keysym] of MEDIA) {
    probe.events.length = 0;
    await cdp.send('Input.dispatchKeyEvent', { type: 'rawKeyDown', code, key: code, windowsVirtualKeyCode: vk });
    await cdp.send('Input.dispatchKeyEvent', { type: 'keyUp', code, key: code, windowsVirtualKeyCode: vk });
    const press = await probe.waitFor((e) => e.type === 'key_press' && e.keycode === keycode, `press of ${code}`);
    assert.equal(press.keysym, keysym, `${code} keysym 0x${press.keysym.toString(16)}`);
    await probe.waitFor((e) => e.type === 'key_release' && e.keycode === keycode, `release of ${code}`);
  }
  probe.events.length = 0;
});

test('a browser closed while holding a key leaves no stuck key', { timeout: 30000 }, async () => {
  probe.events.length = 0;
  await page.keyboard.down('KeyQ');
  await probe.waitFor((e) => e.type === 'key_press' && e.keycode === 24, 'press of Q');
  await browser.close_();
  browser = null;
  await probe.waitFor((e) => e.type === 'key_release' && e.keycode === 24, 'release of Q after the browser left', 15000);
});
