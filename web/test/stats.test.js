// The playback message the page sends the host each second, and the overlay's rate-control rows.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { playbackMessage, overlaySections, encoderNames } from '../stats.js';

const sample = (over) => ({ decodedNow: 60, droppedNow: 2, shownNow: 51, decodeMs: 9.14, mbps: 2.8704, ...over });

test('a second of playback becomes a message the host accepts', () => {
  assert.deepEqual(playbackMessage(sample({})), { type: 'playback', decoded: 60, shown: 51, dropped: 2, decode_us: 9140, received_kbps: 2870 });
  // Unknown presentation: the decoded frames count as shown; unknown decode time or rate: null.
  assert.deepEqual(playbackMessage(sample({ shownNow: null, decodeMs: null, mbps: undefined })), { type: 'playback', decoded: 60, shown: 60, dropped: 2, decode_us: null, received_kbps: null });
  // The first second has nothing to compare with.
  assert.equal(playbackMessage(sample({ decodedNow: null })), null);
  // Within the host's bounds whatever the browser reports.
  const wild = playbackMessage(sample({ decodedNow: 1e9, droppedNow: -5, shownNow: 2.6, decodeMs: 1e12, mbps: 1e9 }));
  assert.deepEqual(wild, { type: 'playback', decoded: 1000, shown: 3, dropped: 0, decode_us: 10_000_000, received_kbps: 10_000_000 });
});

test('the overlay names the limit and says why', () => {
  const s = { rttMs: 1, lossPct: 0, jitterMs: 1, mbps: 3, nacks: 0, plis: 0, width: 1920, height: 1080, fps: 40, jitterBufferMs: 5, decodeMs: 4, dropped: 0, freezes: 0, audio: false };
  const host = { fps: 40, mbps: 3, capture_ms: 2, convert_ms: 2, encode_ms: 21, frame_p50_ms: 25, frame_p95_ms: 28, keyframes: 0, target_mbps: 6, target_fps: 40, scale: 1, estimate_mbps: 9, loss_pct: 0, queue_ms: 2, limit: 'encoder', why: 'frame rate 40: this host needs 21.0 ms to encode a frame', estimate_doubted: false, estimate_resets: 1 };
  const rows = Object.fromEntries(overlaySections(s, host).find(([t]) => t === 'Rate control')[1]);
  assert.equal(rows['limited by'], 'the host\'s encoder');
  assert.equal(rows.why, 'frame rate 40: this host needs 21.0 ms to encode a frame');
  assert.equal(rows['queue on the path'], '2 ms over its least');
  assert.equal(rows['estimate drops not confirmed'], '1');
  const hostRows = Object.fromEntries(overlaySections(s, { ...host, encoder: 'x264' }).find(([t]) => t === 'Host')[1]);
  assert.equal(hostRows.encoder, 'x264 (software)');
  const older = Object.fromEntries(overlaySections(s, host).find(([t]) => t === 'Host')[1]);
  assert.equal(older.encoder, '–', 'a host that does not say shows a dash');
  const free = Object.fromEntries(overlaySections(s, { ...host, limit: 'none', why: null, estimate_doubted: true }).find(([t]) => t === 'Rate control')[1]);
  assert.equal(free['limited by'], 'nothing');
  assert.equal(free['estimate drops not confirmed'], '1 · checking one now');
});

test('the overlay names each of the host\'s encoders, known or not', () => {
  assert.equal(encoderNames('x264'), 'x264 (software)');
  assert.equal(encoderNames('openh264+aom'), 'openh264 (software) + libaom AV1 (software)');
  assert.equal(encoderNames('future'), 'future');
  assert.equal(encoderNames(undefined), '–');
});
