// The pages at desktop and phone sizes (1280x720, 390x844): screenshots of the join page, a
// session with its bar and the settings panel go to tests/e2e/artifacts for people to look at;
// every control of the bar, the panel and the join form lies inside the screen.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startDemoPage, screenshot, teardown } from './harness.js';

let browser;
let page;
let proc;

before(async () => {
  ({ proc, browser, page } = await startDemoPage(['--audio', 'none']));
});

after(async () => {
  await teardown(browser);
});

/** The boxes of `selectors` that are visible: their rectangles, in CSS pixels. */
function boxes(p, selectors) {
  return p.evaluate((sels) => sels.map((s) => {
    const el = document.querySelector(s);
    if (!el || el.hidden || getComputedStyle(el).display === 'none') return null;
    const r = el.getBoundingClientRect();
    return { s, left: r.left, right: r.right, top: r.top, bottom: r.bottom };
  }).filter(Boolean), selectors);
}

for (const [w, h] of [[1280, 720], [390, 844]]) {
  test(`at ${w}x${h} the session's bar and the join page fit the screen`, { timeout: 30000 }, async () => {
    await page.setViewportSize({ width: w, height: h });
    await page.waitForTimeout(300);
    const bar = await boxes(page, ['#room-label', '#role', '#sound', '#volume', '#stats-toggle', '#lock', '#settings-toggle', '#fullscreen']);
    assert.equal(bar.length, 8, `every control shows: ${JSON.stringify(bar)}`);
    for (const b of bar) {
      assert.ok(b.left >= 0 && b.right <= w, `${b.s} inside the screen: ${JSON.stringify(b)}`);
    }
    const tops = new Set(bar.map((b) => Math.round((b.top + b.bottom) / 2 / 8)));
    assert.ok(tops.size <= 1, `the bar is one line: ${JSON.stringify(bar)}`);
    // The bar as the user sees it with the pointer on it.
    await page.hover('#stats-toggle');
    await screenshot(page, `screen-session-${w}x${h}`);

    // The settings panel opens inside the screen, every control of it reachable.
    await page.click('#settings-toggle');
    await page.waitForFunction(() => !document.getElementById('set-size').disabled);
    const panel = await boxes(page, ['#settings', '#set-size', '#set-fps', '#set-bitrate', '#set-audio', '#set-overlay', '#settings-close']);
    assert.equal(panel.length, 7, `the panel's controls show: ${JSON.stringify(panel)}`);
    for (const b of panel) {
      assert.ok(b.left >= 0 && b.right <= w && b.top >= 0 && b.bottom <= h, `${b.s} inside the screen: ${JSON.stringify(b)}`);
    }
    await screenshot(page, `screen-settings-${w}x${h}`);
    await page.click('#settings-close');

    const join = await browser.newPage();
    await join.setViewportSize({ width: w, height: h });
    await join.goto(proc.url.split('?')[0]);
    const form = await boxes(join, ['#join', '#join input', '#join button']);
    assert.equal(form.length, 3);
    for (const b of form) assert.ok(b.left >= 0 && b.right <= w, `${b.s} inside the screen: ${JSON.stringify(b)}`);
    await screenshot(join, `screen-join-${w}x${h}`);

    // An error, as a user meets one: a link whose key is not the host's.
    const wrong = proc.url.replace(/#k=.*$/, `#k=${'B'.repeat(43)}`);
    await join.goto(wrong);
    await join.waitForSelector('#status[data-kind="error"]', { timeout: 15000 });
    const status = await boxes(join, ['#status']);
    assert.ok(status[0].left >= 0 && status[0].right <= w, `the error inside the screen: ${JSON.stringify(status)}`);
    await screenshot(join, `screen-error-${w}x${h}`);
    await join.close();
  });
}
