//! The host's side of pairing: the link secrets it issues, which offers it lets in, and the
//! proofs of the handshake in [`peerdesk_proto::auth`].
//!
//! A [`Keyring`] holds the secrets behind the share links: one for control and, with
//! `--view-link`, one for viewing only. Each has a key id (the HMAC of a fixed label, so a
//! viewer can name its key without revealing it), an optional expiry, and can be revoked, which
//! issues a new one. Old secrets are kept (a bounded number) so a refused viewer can be told
//! whether its link was revoked, expired or never issued. Nonces seen are remembered (bounded)
//! so a replayed offer is told apart. The caller passes the time. With a state file
//! ([`Keyring::open`]) the secrets survive a restart of the host, so its links keep working.

use std::collections::{HashSet, VecDeque};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::{hmac, rand};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use peerdesk_proto::auth::{self, DenyCode, Handshake, OfferAuth, Side};
use serde::{Deserialize, Serialize};
use tracing::warn;

/// Bytes in a link secret: 256 bits, far beyond what anyone who sees the handshake can guess.
pub const SECRET_BYTES: usize = 32;
/// Bytes in a nonce.
pub const NONCE_BYTES: usize = 16;
/// Old secrets remembered, to tell a revoked or expired link from a wrong one.
const RETIRED_KEPT: usize = 64;
/// Viewer nonces remembered, to spot a replayed handshake.
const NONCES_KEPT: usize = 4096;

/// What a link lets its holder do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Access {
    /// Watch and control (one viewer controls at a time).
    Control,
    /// Watch only.
    View,
}

/// A link secret. Its `Debug` shows only the key id: secrets never reach a log.
#[derive(Clone)]
pub struct Secret {
    key: hmac::Key,
    encoded: String,
    id: String,
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret(id {})", self.id)
    }
}

/// The system's random number generator failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the system's random number generator failed")]
pub struct RandomError;

fn random<const N: usize>() -> Result<[u8; N], RandomError> {
    let mut bytes = [0u8; N];
    rand::fill(&mut bytes).map_err(|_| RandomError)?;
    Ok(bytes)
}

/// A fresh nonce, base64url.
pub fn nonce() -> Result<String, RandomError> {
    Ok(URL_SAFE_NO_PAD.encode(random::<NONCE_BYTES>()?))
}

impl Secret {
    /// A new random secret.
    pub fn generate() -> Result<Self, RandomError> {
        Ok(Self::from_bytes(&random::<SECRET_BYTES>()?))
    }

    /// The secret from its bytes.
    pub fn from_bytes(bytes: &[u8]) -> Self {
        let key = hmac::Key::new(hmac::HMAC_SHA256, bytes);
        let tag = hmac::sign(&key, auth::KEY_ID_LABEL.as_bytes());
        let id = URL_SAFE_NO_PAD.encode(&tag.as_ref()[..9]);
        Self { key, encoded: URL_SAFE_NO_PAD.encode(bytes), id }
    }

    /// As it appears in a link: base64url, no padding.
    pub fn encoded(&self) -> &str {
        &self.encoded
    }

    /// The key id viewers name it by.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// HMAC-SHA256 of `message` under this secret, base64url.
    pub fn mac(&self, message: &str) -> String {
        URL_SAFE_NO_PAD.encode(hmac::sign(&self.key, message.as_bytes()).as_ref())
    }

    /// Whether `mac` (base64url) is the HMAC of `message` under this secret, compared in
    /// constant time.
    pub fn verify(&self, message: &str, mac: &str) -> bool {
        URL_SAFE_NO_PAD.decode(mac).is_ok_and(|tag| hmac::verify(&self.key, message.as_bytes(), &tag).is_ok())
    }
}

#[derive(Debug)]
struct Issued {
    secret: Secret,
    access: Access,
    expires: Option<SystemTime>,
    revoked: bool,
}

/// The share links of this moment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Links {
    /// Watch and control.
    pub control: String,
    /// Watch only (with `--view-link`).
    pub view: Option<String>,
}

/// A viewer let in by its key, waiting for its proof.
#[derive(Clone, Debug)]
pub struct Grant {
    /// What its link allows.
    pub access: Access,
    /// The secret it named.
    pub secret: Secret,
}

/// The keyring as its state file holds it (JSON, readable by the host's user only).
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Stored {
    /// Format version.
    version: u32,
    keys: Vec<StoredKey>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredKey {
    secret: String,
    view_only: bool,
    /// Unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expires: Option<u64>,
    revoked: bool,
}

/// Why the state file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyringError {
    /// No randomness.
    #[error(transparent)]
    Random(#[from] RandomError),
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
}

/// The host's link secrets.
#[derive(Debug)]
pub struct Keyring {
    /// Newest first.
    issued: Vec<Issued>,
    ttl: Option<Duration>,
    view_link: bool,
    nonces: HashSet<String>,
    nonce_order: VecDeque<String>,
    /// Where the secrets are kept between runs; `None`: nowhere.
    path: Option<PathBuf>,
}

impl Keyring {
    /// A keyring with a control secret and, with `view_link`, a view-only one; each expires
    /// `ttl` after it is issued, if given. Kept in memory only.
    pub fn new(now: SystemTime, ttl: Option<Duration>, view_link: bool) -> Result<Self, RandomError> {
        let mut ring = Self::new_empty(ttl, view_link);
        ring.fill(now)?;
        Ok(ring)
    }

    /// The keyring kept in the state file at `path`: its secrets when the file exists (so links
    /// survive a restart of the host), fresh ones otherwise. A view-only secret is live only
    /// with `view_link`: without it, a stored one is revoked. A file that cannot be parsed is
    /// replaced (with a warning): its links stop working.
    pub fn open(
        path: &Path,
        now: SystemTime,
        ttl: Option<Duration>,
        view_link: bool,
    ) -> Result<Self, KeyringError> {
        let mut ring = Self::new_empty(ttl, view_link);
        ring.path = Some(path.to_owned());
        match std::fs::read_to_string(path) {
            Ok(text) => match serde_json::from_str::<Stored>(&text) {
                Ok(stored) if stored.version == 1 => {
                    for k in stored.keys.into_iter().take(RETIRED_KEPT) {
                        let Ok(bytes) = URL_SAFE_NO_PAD.decode(&k.secret) else { continue };
                        if bytes.len() != SECRET_BYTES {
                            continue;
                        }
                        ring.issued.push(Issued {
                            secret: Secret::from_bytes(&bytes),
                            access: if k.view_only { Access::View } else { Access::Control },
                            expires: k.expires.map(|s| UNIX_EPOCH + Duration::from_secs(s)),
                            revoked: k.revoked || (k.view_only && !view_link),
                        });
                    }
                }
                Ok(_) | Err(_) => warn!("{}: not a peerdesk link file; issuing new links", path.display()),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(KeyringError::Io { path: path.to_owned(), source }),
        }
        ring.fill(now)?;
        ring.save().map_err(|source| KeyringError::Io { path: path.to_owned(), source })?;
        Ok(ring)
    }

    fn new_empty(ttl: Option<Duration>, view_link: bool) -> Self {
        Self {
            issued: Vec::new(),
            ttl,
            view_link,
            nonces: HashSet::new(),
            nonce_order: VecDeque::new(),
            path: None,
        }
    }

    /// Issues what is missing: a live control secret, and a view-only one when asked for.
    fn fill(&mut self, now: SystemTime) -> Result<bool, RandomError> {
        let mut wanted = Vec::new();
        if self.live(Access::Control, now).is_none() {
            wanted.push(Access::Control);
        }
        if self.view_link && self.live(Access::View, now).is_none() {
            wanted.push(Access::View);
        }
        let expires = self.ttl.map(|t| now + t);
        let mut fresh = Vec::new();
        for access in &wanted {
            fresh.push(Issued { secret: Secret::generate()?, access: *access, expires, revoked: false });
        }
        fresh.append(&mut self.issued);
        fresh.truncate(RETIRED_KEPT);
        self.issued = fresh;
        Ok(!wanted.is_empty())
    }

    /// Writes the state file (owner-only), replacing it in one step.
    fn save(&self) -> std::io::Result<()> {
        let Some(path) = &self.path else { return Ok(()) };
        let stored = Stored {
            version: 1,
            keys: self
                .issued
                .iter()
                .map(|i| StoredKey {
                    secret: i.secret.encoded().to_owned(),
                    view_only: i.access == Access::View,
                    expires: i.expires.and_then(|e| e.duration_since(UNIX_EPOCH).ok()).map(|d| d.as_secs()),
                    revoked: i.revoked,
                })
                .collect(),
        };
        let text = serde_json::to_string_pretty(&stored).map_err(std::io::Error::other)?;
        write_private(path, text.as_bytes())
    }

    fn save_or_warn(&self) {
        if let Err(e) = self.save() {
            warn!("cannot save the links ({e}); they work until the host stops");
        }
    }

    /// The live secret for `access`, if there is one that has not expired.
    fn live(&self, access: Access, now: SystemTime) -> Option<&Secret> {
        self.issued
            .iter()
            .find(|i| i.access == access && !i.revoked && i.expires.is_none_or(|e| now < e))
            .map(|i| &i.secret)
    }

    /// The links to hand out, on the page at `page_url` (`http://server/?room=NAME`); issues
    /// new secrets first where the current ones expired.
    pub fn links(&mut self, page_url: &str, now: SystemTime) -> Result<Links, RandomError> {
        if self.fill(now)? {
            self.save_or_warn();
        }
        let link = |s: &Secret| format!("{page_url}#k={}", s.encoded());
        let control = self.live(Access::Control, now).map(link).unwrap_or_default();
        let view = self.live(Access::View, now).map(link);
        Ok(Links { control, view })
    }

    /// Revokes every live secret and issues new ones. Returns the key ids revoked, so the
    /// sessions they let in can be ended.
    pub fn revoke(&mut self, now: SystemTime) -> Result<Vec<String>, RandomError> {
        let mut ids = Vec::new();
        for i in self.issued.iter_mut().filter(|i| !i.revoked) {
            i.revoked = true;
            ids.push(i.secret.id().to_owned());
        }
        self.fill(now)?;
        self.save_or_warn();
        Ok(ids)
    }

    /// Checks a viewer's offer: a key this host issued, live, and a nonce not seen before.
    pub fn admit(&mut self, auth: Option<&OfferAuth>, now: SystemTime) -> Result<Grant, DenyCode> {
        let auth = auth.ok_or(DenyCode::NoKey)?;
        let issued =
            self.issued.iter().find(|i| i.secret.id() == auth.key.as_str()).ok_or(DenyCode::WrongKey)?;
        if issued.revoked {
            return Err(DenyCode::Revoked);
        }
        if issued.expires.is_some_and(|e| now >= e) {
            return Err(DenyCode::Expired);
        }
        let grant = Grant { access: issued.access, secret: issued.secret.clone() };
        let nonce = auth.nonce.as_str().to_owned();
        if !self.nonces.insert(nonce.clone()) {
            return Err(DenyCode::Replayed);
        }
        self.nonce_order.push_back(nonce);
        if self.nonce_order.len() > NONCES_KEPT
            && let Some(old) = self.nonce_order.pop_front()
        {
            self.nonces.remove(&old);
        }
        Ok(grant)
    }
}

/// The host's proof, and the viewer's proof it expects, for one handshake.
#[derive(Clone, Debug)]
pub struct Proofs {
    /// The host's proof, sent in the answer.
    pub host_mac: String,
    /// What the viewer must prove: its transcript (checked with [`Secret::verify`]).
    pub viewer_transcript: String,
}

/// Computes both sides' transcripts for `h` and the host's MAC.
pub fn proofs(secret: &Secret, h: &Handshake<'_>) -> Proofs {
    Proofs {
        host_mac: secret.mac(&auth::transcript(Side::Host, h)),
        viewer_transcript: auth::transcript(Side::Viewer, h),
    }
}

/// `text` as a QR code drawn with Unicode half blocks (dark on light, with its quiet zone), for
/// a terminal; `None` when it does not fit in one.
pub fn qr_code(text: &str) -> Option<String> {
    use qrcode::render::unicode::Dense1x2;
    let code = qrcode::QrCode::new(text.as_bytes()).ok()?;
    Some(
        code.render::<Dense1x2>()
            .dark_color(Dense1x2::Dark)
            .light_color(Dense1x2::Light)
            .quiet_zone(true)
            .build(),
    )
}

/// What a viewer is told when refused, in words.
pub fn deny_message(code: DenyCode) -> &'static str {
    match code {
        DenyCode::NoKey => {
            "This page was opened without the link's access key. Open the whole link the host printed (it ends in #k=...)."
        }
        DenyCode::WrongKey => {
            "This link's access key is not one this host issued. Ask the host for its current link."
        }
        DenyCode::Expired => "This link has expired. Ask the host for a new one.",
        DenyCode::Revoked => "The host revoked this link. Ask the host for a new one.",
        DenyCode::Replayed => "The host saw this handshake before (a replay). Reload the page to try again.",
        DenyCode::BadOffer => "The browser's offer names no usable DTLS certificate.",
        DenyCode::ProofMismatch => {
            "The page's proof of the access key did not match what the host saw: the signaling server may be tampering with the connection."
        }
        DenyCode::HostProofMismatch => "The host's proof did not match.",
        DenyCode::Timeout => "The page did not prove its access key in time.",
        DenyCode::Kicked => "The host ended your session.",
        DenyCode::Full => "The host has as many viewers as it allows.",
        DenyCode::InputAbuse => {
            "The host ended the session: this page sent more input than a person can, or input the host could not read."
        }
    }
}

/// Writes a file of secrets readable by its owner only (0600 on Unix), whole or not at all (a
/// temporary file renamed over it), making its directory if need be.
pub(crate) fn write_private(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("tmp");
    {
        use std::io::Write;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut f = options.open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}
#[cfg(test)]
mod tests {
    use super::*;
    use peerdesk_proto::Token;

    fn offer(ring_secret: &Secret, nonce: &str) -> OfferAuth {
        OfferAuth {
            key: Token::new(ring_secret.id()).expect("token"),
            nonce: Token::new(nonce).expect("token"),
        }
    }

    fn control(ring: &Keyring, now: SystemTime) -> Secret {
        ring.live(Access::Control, now).expect("a live control secret").clone()
    }

    #[test]
    fn secrets_are_long_random_and_never_printed() {
        let a = Secret::generate().expect("random");
        let b = Secret::generate().expect("random");
        assert_ne!(a.encoded(), b.encoded());
        assert_eq!(a.encoded().len(), 43, "32 bytes in base64url");
        assert_eq!(a.id().len(), 12);
        let shown = format!("{a:?}");
        assert!(!shown.contains(a.encoded()), "{shown}");
        assert!(shown.contains(a.id()));
    }

    #[test]
    fn a_mac_verifies_only_for_its_message_and_secret() {
        let s = Secret::from_bytes(&[7; 32]);
        let mac = s.mac("hello");
        assert!(s.verify("hello", &mac));
        assert!(!s.verify("hellO", &mac));
        assert!(!Secret::from_bytes(&[8; 32]).verify("hello", &mac));
        assert!(!s.verify("hello", "not base64!"));
        assert!(!s.verify("hello", &mac[..mac.len() - 2]));
    }

    #[test]
    fn offers_are_admitted_by_live_keys_only_and_each_nonce_once() {
        let t0 = SystemTime::now();
        let mut ring = Keyring::new(t0, Some(Duration::from_secs(60)), true).expect("ring");
        let c = control(&ring, t0);
        let v = ring.live(Access::View, t0).expect("view secret").clone();
        assert_eq!(ring.admit(Some(&offer(&c, "n1")), t0).map(|g| g.access), Ok(Access::Control));
        assert_eq!(ring.admit(Some(&offer(&v, "n2")), t0).map(|g| g.access), Ok(Access::View));
        assert_eq!(ring.admit(Some(&offer(&c, "n1")), t0).map(|g| g.access), Err(DenyCode::Replayed));
        assert_eq!(ring.admit(None, t0).map(|g| g.access), Err(DenyCode::NoKey));
        let stranger = Secret::generate().expect("random");
        assert_eq!(ring.admit(Some(&offer(&stranger, "n3")), t0).map(|g| g.access), Err(DenyCode::WrongKey));

        // Revoked: the old key is told apart, the new one works.
        let revoked = ring.revoke(t0).expect("revoke");
        assert_eq!(revoked, vec![c.id().to_owned(), v.id().to_owned()]);
        assert_eq!(ring.admit(Some(&offer(&c, "n4")), t0).map(|g| g.access), Err(DenyCode::Revoked));
        let c2 = control(&ring, t0);
        assert_ne!(c2.id(), c.id());
        assert_eq!(ring.admit(Some(&offer(&c2, "n5")), t0).map(|g| g.access), Ok(Access::Control));

        // Expired after its time; asking for the links then issues fresh ones.
        let later = t0 + Duration::from_secs(61);
        assert_eq!(ring.admit(Some(&offer(&c2, "n6")), later).map(|g| g.access), Err(DenyCode::Expired));
        let links = ring.links("http://s/?room=r", later).expect("links");
        let c3 = control(&ring, later);
        assert_eq!(links.control, format!("http://s/?room=r#k={}", c3.encoded()));
        assert!(links.view.is_some());
        assert_eq!(ring.admit(Some(&offer(&c3, "n7")), later).map(|g| g.access), Ok(Access::Control));
    }

    #[test]
    fn without_view_link_there_is_one_key_and_memory_stays_bounded() {
        let t0 = SystemTime::now();
        let mut ring = Keyring::new(t0, None, false).expect("ring");
        assert_eq!(ring.links("u", t0).expect("links").view, None);
        for _ in 0..200 {
            ring.revoke(t0).expect("revoke");
        }
        assert!(ring.issued.len() <= RETIRED_KEPT);
        let c = control(&ring, t0);
        for i in 0..(NONCES_KEPT + 10) {
            ring.admit(Some(&offer(&c, &format!("n{i}"))), t0).expect("fresh nonce");
        }
        assert_eq!(ring.nonces.len(), NONCES_KEPT);
        assert_eq!(ring.nonce_order.len(), NONCES_KEPT);
    }

    #[test]
    fn the_state_file_keeps_links_and_revocations_across_restarts() {
        let dir = std::env::temp_dir().join(format!("peerdesk-keyring-{}", std::process::id()));
        let path = dir.join("links-r.json");
        let _ = std::fs::remove_file(&path);
        let t0 = SystemTime::now();
        let mut first = Keyring::open(&path, t0, None, true).expect("new file");
        let links = first.links("u", t0).expect("links");
        let again = Keyring::open(&path, t0, None, true).expect("reopen").links("u", t0).expect("links");
        assert_eq!(again, links, "a restarted host hands out the same links");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("file").permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "only the host's user reads the secrets");
        }
        let old = control(&first, t0);
        first.revoke(t0).expect("revoke");
        let mut reopened = Keyring::open(&path, t0, None, false).expect("reopen");
        assert_eq!(reopened.admit(Some(&offer(&old, "a")), t0).map(|g| g.access), Err(DenyCode::Revoked));
        let fresh = control(&reopened, t0);
        assert_ne!(fresh.id(), old.id());
        assert_eq!(reopened.links("u", t0).expect("links").view, None, "no view link without --view-link");
        std::fs::write(&path, "garbage").expect("write");
        let replaced = Keyring::open(&path, t0, None, false).expect("a broken file is replaced");
        assert_ne!(control(&replaced, t0).id(), fresh.id());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_link_is_drawn_as_a_qr_code_of_half_blocks() {
        let link = format!("https://desk.example.org:8443/?room=living-room#k={}", "A".repeat(43));
        let code = qr_code(&link).expect("a link fits");
        let lines: Vec<&str> = code.lines().collect();
        // Two modules a character high: a version 5 or 6 code and its quiet zone.
        assert!((20..=30).contains(&lines.len()), "{} lines", lines.len());
        assert!(lines.iter().all(|l| l.chars().count() == lines[0].chars().count()), "a square");
        assert!(code.contains('█') && code.contains('▀') && code.contains('▄'));
        assert!(qr_code(&"x".repeat(5000)).is_none(), "too long for any QR code");
    }

    /// The vectors web/test checks the page's WebCrypto code against.
    #[test]
    fn golden_vectors_match() {
        let text = include_str!("../../peerdesk-proto/vectors/pairing.json");
        let v: serde_json::Value = serde_json::from_str(text).expect("json");
        let field = |k: &str| v[k].as_str().expect("string field").to_owned();
        let secret_bytes = URL_SAFE_NO_PAD.decode(field("secret")).expect("base64url");
        let s = Secret::from_bytes(&secret_bytes);
        assert_eq!(s.id(), field("key_id"));
        let (room, vn, hn, fv, fh) = (
            field("room"),
            field("viewer_nonce"),
            field("host_nonce"),
            field("viewer_fingerprint"),
            field("host_fingerprint"),
        );
        let h = Handshake {
            room: &room,
            key: s.id(),
            viewer_nonce: &vn,
            host_nonce: &hn,
            viewer_fingerprint: &fv,
            host_fingerprint: &fh,
        };
        let p = proofs(&s, &h);
        assert_eq!(p.host_mac, field("host_mac"));
        assert!(s.verify(&p.viewer_transcript, &field("viewer_mac")));
    }
}
