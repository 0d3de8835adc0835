//! The STUN and TURN servers the signaling server hands to everyone who joins, with TURN
//! credentials made for each connection by the TURN REST scheme (coturn's `use-auth-secret`):
//! the username is `EXPIRY:PEER` (EXPIRY in Unix seconds), the password is
//! base64(HMAC-SHA1(shared secret, username)). The TURN server checks them with the same secret;
//! the secret itself never leaves this process and is never logged.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::hmac;
use peerdesk_proto::{IcePolicy, IceServer, PeerId};

/// What the server hands out.
#[derive(Clone, Default)]
pub struct IceSettings {
    /// `stun:` URLs.
    pub stun: Vec<String>,
    /// `turn:`/`turns:` URLs (all sharing `turn_secret`).
    pub turn: Vec<String>,
    /// The secret shared with the TURN server.
    pub turn_secret: Option<String>,
    /// How long a TURN credential stays good.
    pub turn_ttl: Duration,
    /// Whether peers must use relays only.
    pub relay_only: bool,
}

impl fmt::Debug for IceSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IceSettings")
            .field("stun", &self.stun)
            .field("turn", &self.turn)
            .field("turn_secret", &self.turn_secret.as_ref().map(|_| "(set)"))
            .field("turn_ttl", &self.turn_ttl)
            .field("relay_only", &self.relay_only)
            .finish()
    }
}

/// Why a URL is not a STUN or TURN server's.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a {1} URL (such as {2})")]
pub struct UrlError(pub String, pub &'static str, pub &'static str);

/// Checks a `--stun` URL.
pub fn check_stun(url: &str) -> Result<(), UrlError> {
    let ok = (url.starts_with("stun:") || url.starts_with("stuns:"))
        && url.len() < 256
        && !url.contains(char::is_whitespace);
    if ok { Ok(()) } else { Err(UrlError(url.to_owned(), "STUN", "stun:stun.example.org:3478")) }
}

/// Checks a `--turn` URL.
pub fn check_turn(url: &str) -> Result<(), UrlError> {
    let ok = (url.starts_with("turn:") || url.starts_with("turns:"))
        && url.len() < 256
        && !url.contains(char::is_whitespace);
    if ok {
        Ok(())
    } else {
        Err(UrlError(url.to_owned(), "TURN", "turn:turn.example.org:3478?transport=udp"))
    }
}

impl IceSettings {
    /// The servers for `peer`, joining at `now`.
    pub fn servers_for(&self, peer: PeerId, now: SystemTime) -> Vec<IceServer> {
        let mut out = Vec::new();
        if !self.stun.is_empty() {
            out.push(IceServer { urls: self.stun.clone(), username: None, credential: None });
        }
        if let (false, Some(secret)) = (self.turn.is_empty(), &self.turn_secret) {
            let expiry = now.duration_since(UNIX_EPOCH).unwrap_or_default() + self.turn_ttl;
            let username = format!("{}:{}", expiry.as_secs(), peer.0);
            out.push(IceServer {
                urls: self.turn.clone(),
                credential: Some(turn_password(secret, &username)),
                username: Some(username),
            });
        }
        out
    }

    /// The policy to hand out.
    pub fn policy(&self) -> Option<IcePolicy> {
        self.relay_only.then_some(IcePolicy::Relay)
    }
}

/// The TURN REST password for `username`: base64(HMAC-SHA1(secret, username)).
pub fn turn_password(secret: &str, username: &str) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret.as_bytes());
    base64_std(hmac::sign(&key, username.as_bytes()).as_ref())
}

pub(crate) fn base64_std(bytes: &[u8]) -> String {
    peerdesk_proto::control::base64(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn turn_passwords_follow_the_rest_scheme() {
        // HMAC-SHA1("key", "The quick brown fox jumps over the lazy dog") is the RFC 2104
        // example de7c9b85b8b78aa6bc8a7a36f70a90701c9db4d9.
        assert_eq!(
            turn_password("key", "The quick brown fox jumps over the lazy dog"),
            "3nybhbi3iqa8ino29wqQcBydtNk="
        );
    }

    #[test]
    fn each_peer_gets_its_own_expiring_credential_and_never_the_secret() {
        let ice = IceSettings {
            stun: vec!["stun:s.example:3478".into()],
            turn: vec!["turn:t.example:3478?transport=udp".into()],
            turn_secret: Some("s3cret".into()),
            turn_ttl: Duration::from_secs(3600),
            relay_only: true,
        };
        let now = UNIX_EPOCH + Duration::from_secs(1_000_000);
        let servers = ice.servers_for(PeerId(7), now);
        assert_eq!(servers.len(), 2);
        assert_eq!(
            servers[0],
            IceServer { urls: vec!["stun:s.example:3478".into()], username: None, credential: None }
        );
        assert_eq!(servers[1].username.as_deref(), Some("1003600:7"));
        assert_eq!(servers[1].credential.as_deref(), Some(turn_password("s3cret", "1003600:7").as_str()));
        assert_ne!(servers[1].credential, ice.servers_for(PeerId(8), now)[1].credential);
        let json = serde_json::to_string(&servers).expect("json");
        assert!(!json.contains("s3cret"));
        assert!(!format!("{ice:?}").contains("s3cret"));
        assert_eq!(ice.policy(), Some(IcePolicy::Relay));
        // No secret: no TURN entry (it could not authenticate).
        let no_secret = IceSettings { turn_secret: None, ..ice };
        assert_eq!(no_secret.servers_for(PeerId(7), now).len(), 1);
    }

    #[test]
    fn urls_are_checked() {
        assert!(check_stun("stun:s.example:3478").is_ok());
        assert!(check_stun("turn:s.example").is_err());
        assert!(check_turn("turns:t.example:5349?transport=tcp").is_ok());
        assert!(check_turn("http://t.example").is_err());
        assert!(check_turn("turn:a b").is_err());
    }
}
