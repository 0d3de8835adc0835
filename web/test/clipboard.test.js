// The clipboard bridge's rules, with a stand-in for the browser's clipboard: a host copy the
// browser will not take yet waits for the next gesture, a paste sends each new text once, text
// over the limit is explained and not sent, a refused read is explained once, viewers that do
// not control neither send nor take.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ClipboardBridge, MAX_CLIPBOARD_TEXT, isPasteKey } from '../clipboard.js';

function setup({ writable = true, readable = true, text = '' } = {}) {
  const clip = {
    text,
    writable,
    readable,
    async writeText(t) {
      if (!this.writable) throw Object.assign(new Error('no focus'), { name: 'NotAllowedError' });
      this.text = t;
    },
    async readText() {
      if (!this.readable) throw Object.assign(new Error('denied'), { name: 'NotAllowedError' });
      return this.text;
    },
  };
  const sent = [];
  const notes = [];
  const target = new EventTarget();
  const bridge = new ClipboardBridge({
    send: (m) => { sent.push(m); return true; },
    notify: (t, kind = 'info') => notes.push([kind, t]),
    clipboard: clip,
    target,
  });
  bridge.setEnabled(true);
  return { clip, sent, notes, target, bridge };
}

test('a host copy the browser refuses waits for the next gesture', async () => {
  const { clip, target, bridge } = setup({ writable: false });
  assert.equal(await bridge.fromHost('from host'), false);
  assert.equal(bridge.pending, 'from host');
  clip.writable = true;
  target.dispatchEvent(new Event('pointerdown'));
  await new Promise((r) => setTimeout(r, 0));
  assert.equal(clip.text, 'from host');
  assert.equal(bridge.pending, null);
});

test('a paste sends the clipboard once per new text, preferring the paste event\'s text', async () => {
  const { sent, bridge } = setup({ text: 'from the clipboard' });
  assert.equal(await bridge.beforePaste(), true);
  assert.equal(await bridge.beforePaste(), false, 'the same text is not sent again');
  assert.equal(await bridge.beforePaste('from the event'), true);
  assert.deepEqual(sent, [{ type: 'clipboard', text: 'from the clipboard' }, { type: 'clipboard', text: 'from the event' }]);
  // The host's own copy is not sent back to it.
  await bridge.fromHost('host text');
  assert.equal(await bridge.beforePaste('host text'), false);
});

test('text over the limit is explained, not sent; a refused read is explained once', async () => {
  const { sent, notes, clip, bridge } = setup({ text: '\u00e9'.repeat(MAX_CLIPBOARD_TEXT / 2 + 1) });
  assert.equal(await bridge.beforePaste(), false);
  assert.deepEqual(sent, []);
  assert.match(notes.at(-1)[1], /too large to paste into the host \(121 KiB; at most 120 KiB\)/);
  clip.readable = false;
  await bridge.beforePaste();
  await bridge.beforePaste();
  const refusals = notes.filter(([, t]) => /allow this page to read the clipboard/.test(t));
  assert.equal(refusals.length, 1);
});

test('a viewer that does not control neither sends nor takes', async () => {
  const { sent, clip, bridge } = setup({ text: 'x' });
  bridge.setEnabled(false);
  assert.equal(await bridge.beforePaste(), false);
  await bridge.fromHost('secret');
  assert.deepEqual(sent, []);
  assert.equal(clip.text, 'x');
});

test('the paste shortcuts', () => {
  assert.ok(isPasteKey({ code: 'KeyV', ctrlKey: true }));
  assert.ok(isPasteKey({ code: 'KeyV', metaKey: true }));
  assert.ok(isPasteKey({ code: 'Insert', shiftKey: true }));
  assert.ok(!isPasteKey({ code: 'KeyV' }));
  assert.ok(!isPasteKey({ code: 'KeyV', ctrlKey: true, altKey: true }), 'Ctrl+Alt+V is something else');
});
