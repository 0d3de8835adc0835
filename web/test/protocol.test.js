// The web client's input codec against the golden vectors shared with the Rust codec.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { encodeInput, decodeInput, needsReliable, toWireCoord, InputCodecError } from '../protocol.js';

const vectorsPath = fileURLToPath(new URL('../../crates/peerdesk-proto/vectors/input.json', import.meta.url));
const vectors = JSON.parse(readFileSync(vectorsPath, 'utf8'));
const hex = (b) => Buffer.from(b).toString('hex');
const unhex = (s) => new Uint8Array(Buffer.from(s, 'hex'));

test('every valid vector encodes to its bytes and decodes back', () => {
  assert.ok(vectors.valid.length >= 13);
  for (const { event, hex: h } of vectors.valid) {
    assert.equal(hex(encodeInput(event)), h, JSON.stringify(event));
    assert.deepEqual(decodeInput(unhex(h)), event, h);
  }
});

test('every invalid vector is rejected with the same error as in Rust', () => {
  for (const { hex: h, error } of vectors.invalid) {
    assert.throws(() => decodeInput(unhex(h)), (e) => e instanceof InputCodecError && e.name === error, h);
  }
});

test('every truncation of a valid event is rejected', () => {
  for (const { hex: h } of vectors.valid) {
    const b = unhex(h);
    for (let cut = 0; cut < b.length; cut++) {
      assert.throws(() => decodeInput(b.subarray(0, cut)), InputCodecError, `${h} cut to ${cut}`);
    }
  }
});

test('encoding clamps numbers to their field and refuses bad key codes', () => {
  assert.equal(hex(encodeInput({ type: 'pointer_move', x: -5, y: 70000 })), '010000ffff');
  assert.equal(hex(encodeInput({ type: 'wheel', dx: 0, dy: -1e9 })), '0400008000');
  assert.throws(() => encodeInput({ type: 'key', code: 'Key A', down: true }), { name: 'bad_key_code' });
  assert.throws(() => encodeInput({ type: 'button', button: 'sixth', down: true }), { name: 'bad_button' });
  assert.throws(() => encodeInput({ type: 'teleport' }), { name: 'unknown_kind' });
});

test('channel choice and coordinate scale', () => {
  assert.equal(needsReliable({ type: 'pointer_move', x: 0, y: 0 }), false);
  assert.equal(needsReliable({ type: 'key', code: 'KeyA', down: true }), true);
  assert.equal(toWireCoord(0, 1280), 0);
  assert.equal(toWireCoord(640, 1280), 32768);
  assert.equal(toWireCoord(1280, 1280), 65535);
  assert.equal(toWireCoord(5, 0), 0);
});
