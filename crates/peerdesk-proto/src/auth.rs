//! The pairing handshake: how a viewer and a host prove to each other, through a signaling
//! server neither trusts, that they hold the same link secret and that the WebRTC session they
//! are setting up is theirs.
//!
//! The secret travels in the share link's fragment (`#k=...`, never sent to a server). Each side
//! computes HMAC-SHA256 under the secret over a [`transcript`] naming its side, the room, the
//! key id, both nonces and both DTLS certificate fingerprints as that side sees them in the SDP.
//! A server that swaps a fingerprint (to sit in the middle of DTLS) makes the two sides see
//! different transcripts, so neither proof verifies; a server that answers by itself lacks the
//! secret. See docs/SECURITY.md.
//!
//! 1. viewer -> host: `offer` with [`OfferAuth`] (key id, viewer nonce);
//! 2. host -> viewer: `answer` with [`AnswerAuth`] (host nonce, the host's proof); the page
//!    checks it before it applies the answer;
//! 3. viewer -> host: `proof` (the viewer's proof), or `deny` when the host's did not verify.
//!    Until the proof verifies, the host sends the viewer nothing and takes no input from it.
//!
//! This module owns the formats only; the host and the page do the cryptography.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

/// The transcript's first line; changes whenever the transcript's layout does.
pub const TRANSCRIPT_LABEL: &str = "peerdesk-pairing-v1";

/// Longest [`Token`] accepted, in characters.
pub const MAX_TOKEN: usize = 64;

/// Longest `deny` message, in bytes.
pub const MAX_DENY_MESSAGE: usize = 300;

/// A short base64url string (no padding): a key id, a nonce or a MAC. 1 to [`MAX_TOKEN`]
/// characters of `A-Za-z0-9-_`, checked when parsed, so what the server relays stays small and
/// inert.
#[derive(Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Token(String);

/// Why a string is not a [`Token`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("not a token: 1 to {MAX_TOKEN} characters of A-Z, a-z, 0-9, '-' and '_'")]
pub struct TokenError;

impl Token {
    /// Validates `s`.
    pub fn new(s: &str) -> Result<Self, TokenError> {
        let ok = !s.is_empty()
            && s.len() <= MAX_TOKEN
            && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if ok { Ok(Self(s.to_owned())) } else { Err(TokenError) }
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Token {
    // Only the start: a MAC or nonce in a debug log is noise, and a log is no place for them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let head: String = self.0.chars().take(4).collect();
        write!(f, "Token({head}…)")
    }
}

impl<'de> Deserialize<'de> for Token {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Token::new(&s).map_err(serde::de::Error::custom)
    }
}

/// The viewer's part of the offer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OfferAuth {
    /// Which of the host's secrets the viewer holds: the secret's key id (see [`KEY_ID_LABEL`]),
    /// which reveals nothing of the secret.
    pub key: Token,
    /// The viewer's fresh random nonce (16 bytes, base64url).
    pub nonce: Token,
}

/// The host's part of the answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnswerAuth {
    /// The host's fresh random nonce (16 bytes, base64url).
    pub nonce: Token,
    /// The host's proof: HMAC-SHA256 over the host's [`transcript`], base64url.
    pub mac: Token,
}

/// The key id of a secret is the first 9 bytes (12 base64url characters) of HMAC-SHA256 under
/// the secret of this label.
pub const KEY_ID_LABEL: &str = "peerdesk key id";

/// Why one side refuses the other; sent in `deny` so the other side can tell its user.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DenyCode {
    /// The offer carried no key: the page was opened without the link's secret.
    NoKey,
    /// The host issued no such key: a wrong or mistyped link.
    WrongKey,
    /// The link expired.
    Expired,
    /// The host revoked the link.
    Revoked,
    /// The viewer's nonce was seen before: a replayed handshake.
    Replayed,
    /// The offer has no usable DTLS fingerprint (none, or several that differ).
    BadOffer,
    /// The viewer's proof did not verify.
    ProofMismatch,
    /// (viewer to host) The host's proof did not verify: someone between them changed the
    /// session, or the page holds another host's link.
    HostProofMismatch,
    /// The viewer sent no proof in time.
    Timeout,
    /// The host ended this viewer's session.
    Kicked,
    /// The host is at its limit of viewers.
    Full,
    /// The host ended the session: the page sent more input than a person can, or a stream
    /// of input the host could not read.
    InputAbuse,
}

/// Which side computes a proof.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// The host's proof (in the answer).
    Host,
    /// The viewer's proof (in `proof`).
    Viewer,
}

/// What both proofs cover.
#[derive(Clone, Copy, Debug)]
pub struct Handshake<'a> {
    /// The room, as the side names it.
    pub room: &'a str,
    /// The key id the viewer named.
    pub key: &'a str,
    /// The viewer's nonce.
    pub viewer_nonce: &'a str,
    /// The host's nonce.
    pub host_nonce: &'a str,
    /// The viewer's DTLS fingerprint, from the offer, as [`sdp_fingerprint`] gives it.
    pub viewer_fingerprint: &'a str,
    /// The host's DTLS fingerprint, from the answer.
    pub host_fingerprint: &'a str,
}

/// The bytes a side's proof is the HMAC of: one field a line, in a fixed order.
pub fn transcript(side: Side, h: &Handshake<'_>) -> String {
    let side = match side {
        Side::Host => "host",
        Side::Viewer => "viewer",
    };
    [
        TRANSCRIPT_LABEL,
        side,
        h.room,
        h.key,
        h.viewer_nonce,
        h.host_nonce,
        h.viewer_fingerprint,
        h.host_fingerprint,
    ]
    .join("\n")
}

/// Why an SDP has no usable fingerprint.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FingerprintError {
    /// No `a=fingerprint` line.
    #[error("the session description has no DTLS fingerprint")]
    Missing,
    /// Lines that name different certificates.
    #[error("the session description names several different DTLS fingerprints")]
    Conflicting,
    /// A line that is not `a=fingerprint:ALGORITHM HEX:HEX:...`.
    #[error("the session description has a malformed DTLS fingerprint")]
    Malformed,
}

/// The DTLS certificate fingerprint an SDP names, normalised: the hash algorithm in lower case,
/// a space, the hex bytes in upper case separated by colons (`sha-256 AB:CD:...`). Every
/// `a=fingerprint` line must name the same one.
pub fn sdp_fingerprint(sdp: &str) -> Result<String, FingerprintError> {
    let mut found: Option<String> = None;
    for line in sdp.lines() {
        let Some(value) = line.trim_end_matches('\r').strip_prefix("a=fingerprint:") else {
            continue;
        };
        let (alg, hex) = value.trim().split_once(' ').ok_or(FingerprintError::Malformed)?;
        let hex = hex.trim();
        let alg_ok =
            !alg.is_empty() && alg.len() <= 16 && alg.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        let hex_ok = !hex.is_empty()
            && hex.len() <= 200
            && hex.split(':').all(|p| p.len() == 2 && p.bytes().all(|b| b.is_ascii_hexdigit()));
        if !alg_ok || !hex_ok {
            return Err(FingerprintError::Malformed);
        }
        let normal = format!("{} {}", alg.to_ascii_lowercase(), hex.to_ascii_uppercase());
        match &found {
            Some(f) if *f != normal => return Err(FingerprintError::Conflicting),
            Some(_) => {}
            None => found = Some(normal),
        }
    }
    found.ok_or(FingerprintError::Missing)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_short_base64url() {
        assert!(Token::new("abc-_XYZ09").is_ok());
        assert!(Token::new("").is_err());
        assert!(Token::new("a=b").is_err());
        assert!(Token::new("a b").is_err());
        assert!(Token::new(&"a".repeat(MAX_TOKEN)).is_ok());
        assert!(Token::new(&"a".repeat(MAX_TOKEN + 1)).is_err());
        assert!(serde_json::from_str::<Token>("\"ok\"").is_ok());
        assert!(serde_json::from_str::<Token>("\"no/slash\"").is_err());
        assert_eq!(format!("{:?}", Token::new("secretmac").expect("token")), "Token(secr…)");
    }

    #[test]
    fn the_fingerprint_is_normalised_and_must_be_one() {
        let sdp = "v=0\r\na=fingerprint:SHA-256 ab:CD:0f\r\nm=video 9\r\na=fingerprint:sha-256 AB:cd:0F\r\n";
        assert_eq!(sdp_fingerprint(sdp), Ok("sha-256 AB:CD:0F".into()));
        let two = "a=fingerprint:sha-256 AB:CD\r\na=fingerprint:sha-256 AB:CE\r\n";
        assert_eq!(sdp_fingerprint(two), Err(FingerprintError::Conflicting));
        assert_eq!(sdp_fingerprint("v=0\r\n"), Err(FingerprintError::Missing));
        assert_eq!(sdp_fingerprint("a=fingerprint:sha-256\r\n"), Err(FingerprintError::Malformed));
        assert_eq!(sdp_fingerprint("a=fingerprint:sha-256 AB:C\r\n"), Err(FingerprintError::Malformed));
        assert_eq!(sdp_fingerprint("a=fingerprint:sha 256 AB\r\n"), Err(FingerprintError::Malformed));
    }

    #[test]
    fn the_transcript_names_the_side_and_every_field_in_order() {
        let h = Handshake {
            room: "r",
            key: "k",
            viewer_nonce: "vn",
            host_nonce: "hn",
            viewer_fingerprint: "sha-256 AA",
            host_fingerprint: "sha-256 BB",
        };
        assert_eq!(
            transcript(Side::Host, &h),
            "peerdesk-pairing-v1\nhost\nr\nk\nvn\nhn\nsha-256 AA\nsha-256 BB"
        );
        assert!(transcript(Side::Viewer, &h).starts_with("peerdesk-pairing-v1\nviewer\n"));
    }
}
