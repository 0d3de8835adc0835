// The page's pairing code (WebCrypto, as in the browser) against the vectors the host's Rust
// code is tested with; the vectors were computed with Python's hmac module.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  importSecret, hostProofOk, viewerProof, transcript, sdpFingerprint, secretFromFragment,
  b64urlEncode, b64urlDecode, nonce, secureContextProblem,
} from '../pairing.js';

const v = JSON.parse(readFileSync(fileURLToPath(new URL('../../crates/peerdesk-proto/vectors/pairing.json', import.meta.url)), 'utf8'));
const handshake = {
  room: v.room, key: v.key_id, viewerNonce: v.viewer_nonce, hostNonce: v.host_nonce,
  viewerFingerprint: v.viewer_fingerprint, hostFingerprint: v.host_fingerprint,
};

test('key id, host proof and viewer proof match the vectors', async () => {
  const secret = await importSecret(v.secret);
  assert.equal(secret.id, v.key_id);
  assert.equal(transcript('host', handshake), v.host_transcript);
  assert.equal(await hostProofOk(secret, handshake, v.host_mac), true);
  assert.equal(await viewerProof(secret, handshake), v.viewer_mac);
});

test('a proof over another fingerprint, or under another secret, does not verify', async () => {
  const secret = await importSecret(v.secret);
  const swapped = { ...handshake, viewerFingerprint: handshake.hostFingerprint };
  assert.equal(await hostProofOk(secret, swapped, v.host_mac), false);
  const other = await importSecret(b64urlEncode(new Uint8Array(32).fill(9)));
  assert.equal(await hostProofOk(other, handshake, v.host_mac), false);
  assert.equal(await hostProofOk(secret, handshake, 'not base64!'), false);
  assert.equal(await hostProofOk(secret, handshake, v.viewer_mac), false, 'the viewer proof is not a host proof');
});

test('fingerprints are normalised and must agree', () => {
  const sdp = 'v=0\r\na=fingerprint:SHA-256 ab:CD:0f\r\nm=video 9\r\na=fingerprint:sha-256 AB:cd:0F\r\n';
  assert.equal(sdpFingerprint(sdp), 'sha-256 AB:CD:0F');
  assert.throws(() => sdpFingerprint('a=fingerprint:sha-256 AB:CD\r\na=fingerprint:sha-256 AB:CE\r\n'), /several/);
  assert.throws(() => sdpFingerprint('v=0\r\n'), /no DTLS/);
  assert.throws(() => sdpFingerprint('a=fingerprint:sha-256 AB:C\r\n'), /malformed/);
});

test('the secret comes from the fragment only when it looks like one', () => {
  assert.equal(secretFromFragment(`#k=${v.secret}`), v.secret);
  assert.equal(secretFromFragment(''), null);
  assert.equal(secretFromFragment('#k=short'), null);
  assert.equal(secretFromFragment('#k=has space in it but long enough'), null);
  assert.deepEqual([...b64urlDecode(b64urlEncode(new Uint8Array([0, 251, 255])))], [0, 251, 255]);
  assert.notEqual(nonce(), nonce());
  assert.equal(b64urlDecode(nonce()).length, 16);
});

test('a page without WebCrypto explains what to do', () => {
  assert.equal(secureContextProblem({ isSecureContext: true, crypto: { subtle: {} } }), null);
  assert.match(secureContextProblem({ isSecureContext: false, crypto: {} }), /https/);
});
