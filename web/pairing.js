// The page's side of pairing (crates/peerdesk-proto/src/auth.rs, docs/SECURITY.md): the link's
// secret comes from the URL fragment (never sent to the server); the page names it by its key id,
// checks the host's proof over both DTLS fingerprints before it applies the answer, and proves
// itself the same way. WebCrypto only, so it needs a secure context (https or localhost).

export const TRANSCRIPT_LABEL = 'peerdesk-pairing-v1';
const KEY_ID_LABEL = 'peerdesk key id';
const enc = new TextEncoder();

export function b64urlEncode(bytes) {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

export function b64urlDecode(text) {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) throw new Error('not base64url');
  const b64 = text.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (text.length % 4)) % 4);
  return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
}

/** The link's secret from a URL fragment (`#k=...`), or null. */
export function secretFromFragment(hash) {
  const params = new URLSearchParams((hash || '').replace(/^#/, ''));
  const k = params.get('k');
  return k && /^[A-Za-z0-9_-]{16,128}$/.test(k) ? k : null;
}

/** Why this page cannot do the handshake here, in words; null when it can. */
export function secureContextProblem(win = globalThis) {
  if (win.isSecureContext && win.crypto?.subtle) return null;
  return 'This page was opened over plain http from another machine, and browsers allow the '
    + 'cryptography that proves the link only on https or on this machine itself. Start the '
    + 'server with `--tls-self-signed` (or `--tls-cert` and `--tls-key`) and open the https link.';
}

/**
 * The DTLS fingerprint an SDP names, normalised as the host does it ("sha-256 AB:CD:...");
 * throws when there is none, several different ones, or a malformed one.
 */
export function sdpFingerprint(sdp) {
  let found = null;
  for (const raw of sdp.split('\n')) {
    const line = raw.replace(/\r$/, '');
    if (!line.startsWith('a=fingerprint:')) continue;
    const m = /^a=fingerprint:\s*([A-Za-z0-9-]{1,16}) +((?:[0-9A-Fa-f]{2}:)*[0-9A-Fa-f]{2})\s*$/.exec(line);
    if (!m) throw new Error('malformed DTLS fingerprint');
    const normal = `${m[1].toLowerCase()} ${m[2].toUpperCase()}`;
    if (found && found !== normal) throw new Error('several different DTLS fingerprints');
    found = normal;
  }
  if (!found) throw new Error('no DTLS fingerprint');
  return found;
}

/** The text a side's proof covers; `side` is 'host' or 'viewer'. */
export function transcript(side, h) {
  return [TRANSCRIPT_LABEL, side, h.room, h.key, h.viewerNonce, h.hostNonce, h.viewerFingerprint, h.hostFingerprint].join('\n');
}

/** A fresh 16-byte nonce, base64url. */
export function nonce() {
  return b64urlEncode(crypto.getRandomValues(new Uint8Array(16)));
}

/** The link secret as an HMAC key, with its key id. */
export async function importSecret(secret) {
  const key = await crypto.subtle.importKey('raw', b64urlDecode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign', 'verify']);
  const tag = new Uint8Array(await crypto.subtle.sign('HMAC', key, enc.encode(KEY_ID_LABEL)));
  return { key, id: b64urlEncode(tag.slice(0, 9)) };
}

/** Whether `mac` is the host's proof for handshake `h` (compared by WebCrypto). */
export async function hostProofOk(secret, h, mac) {
  let tag;
  try {
    tag = b64urlDecode(mac);
  } catch {
    return false;
  }
  return crypto.subtle.verify('HMAC', secret.key, tag, enc.encode(transcript('host', h)));
}

/** The viewer's proof for handshake `h`. */
export async function viewerProof(secret, h) {
  const tag = new Uint8Array(await crypto.subtle.sign('HMAC', secret.key, enc.encode(transcript('viewer', h))));
  return b64urlEncode(tag);
}

/** What the page tells its user when the host refuses it, by the host's code. */
export const DENIED = {
  no_key: 'This page was opened without the link’s access key. Open the whole link the host printed (it ends in #k=…).',
  wrong_key: 'This link’s access key is not one this host issued. Ask the host for its current link.',
  expired: 'This link has expired. Ask the host for a new one.',
  revoked: 'The host revoked this link. Ask the host for a new one.',
  replayed: 'The host saw this handshake before. Reload the page to try again.',
  bad_offer: 'The host could not use this browser’s offer.',
  proof_mismatch: 'The host could not confirm this page’s proof of the link: the signaling server may be tampering with the connection. Not connected.',
  timeout: 'The handshake with the host took too long.',
  kicked: 'The host ended your session.',
  full: 'The host has as many viewers as it allows. Try again later.',
  input_abuse: 'The host ended the session: this page sent more input than a person can, or input the host could not read. Reload to try again.',
};
