//! The STUN and TURN servers `peerdesk serve` hands the host when it joins, resolved for the
//! viewers' [`Gatherer`]s (peerdesk-session's sans-IO candidate gathering).

use std::net::SocketAddr;

use peerdesk_proto::IceServer;
pub use peerdesk_session::nat::{Found, Gatherer, NatServers, Received, TurnServer};
use tracing::{debug, warn};

/// `stun:HOST[:PORT]` / `turn:HOST[:PORT][?transport=udp]`: the scheme and where; `None` for
/// what the host cannot use (TLS, TCP, other schemes).
fn parse_url(url: &str) -> Option<(&'static str, String)> {
    let (scheme, rest) = url.split_once(':')?;
    let scheme = match scheme {
        "stun" => "stun",
        "turn" => "turn",
        _ => return None,
    };
    let (where_, query) = rest.split_once('?').unwrap_or((rest, ""));
    if query.split('&').any(|kv| kv.starts_with("transport=") && kv != "transport=udp") {
        return None;
    }
    let where_ = where_.trim_start_matches("//");
    if where_.is_empty() {
        return None;
    }
    // A bare IPv6 address needs brackets; a name or IPv4 without a port gets 3478.
    let has_port = match where_.rsplit_once(':') {
        Some((h, p)) => !h.is_empty() && p.parse::<u16>().is_ok() && (!h.contains(':') || h.ends_with(']')),
        None => false,
    };
    Some((scheme, if has_port { where_.to_owned() } else { format!("{where_}:3478") }))
}

/// Resolves the servers from a `joined` message; unusable or unresolvable ones are skipped
/// (and logged).
pub async fn resolve(servers: &[IceServer], relay_only: bool) -> NatServers {
    let mut out = NatServers { relay_only, ..NatServers::default() };
    for server in servers {
        for url in &server.urls {
            let Some((scheme, where_)) = parse_url(url) else {
                debug!(%url, "an ICE server the host cannot use (only UDP STUN and TURN)");
                continue;
            };
            let addr = match tokio::net::lookup_host(where_.as_str()).await {
                Ok(mut addrs) => match addrs.find(SocketAddr::is_ipv4) {
                    Some(a) => a,
                    None => continue,
                },
                Err(e) => {
                    warn!(%url, "cannot resolve an ICE server: {e}");
                    continue;
                }
            };
            if !out.stun.contains(&addr) {
                out.stun.push(addr);
            }
            if scheme == "turn"
                && let (Some(username), Some(password)) = (&server.username, &server.credential)
            {
                out.turn.push(TurnServer { addr, username: username.clone(), password: password.clone() });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_the_host_can_use() {
        assert_eq!(parse_url("stun:stun.example.org"), Some(("stun", "stun.example.org:3478".into())));
        assert_eq!(parse_url("turn:10.0.0.1:5000?transport=udp"), Some(("turn", "10.0.0.1:5000".into())));
        assert_eq!(parse_url("turn:[::1]:5000"), Some(("turn", "[::1]:5000".into())));
        assert_eq!(parse_url("turn:10.0.0.1?transport=tcp"), None);
        assert_eq!(parse_url("turns:10.0.0.1:5349"), None);
        assert_eq!(parse_url("stun:"), None);
        assert_eq!(parse_url("http://x"), None);
    }
}
