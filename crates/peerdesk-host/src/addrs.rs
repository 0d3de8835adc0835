//! Which local addresses the host offers as ICE host candidates.

use std::net::{IpAddr, Ipv4Addr};

/// Usable IPv4 addresses of this machine's interfaces, plus 127.0.0.1 when `loopback` is set
/// or when there is nothing else (a private network namespace in tests).
pub fn candidate_ips(loopback: bool) -> Vec<IpAddr> {
    let mut ips: Vec<IpAddr> = match if_addrs::get_if_addrs() {
        Ok(ifs) => ifs
            .into_iter()
            .map(|i| i.ip())
            .filter(|ip| matches!(ip, IpAddr::V4(v4) if !v4.is_loopback() && !v4.is_unspecified() && !v4.is_link_local()))
            .collect(),
        Err(e) => {
            tracing::warn!("cannot list network interfaces ({e}); offering 127.0.0.1 only");
            Vec::new()
        }
    };
    ips.sort();
    ips.dedup();
    if loopback || ips.is_empty() {
        ips.insert(0, IpAddr::V4(Ipv4Addr::LOCALHOST));
    }
    ips
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_offered_when_asked_and_never_twice() {
        let ips = candidate_ips(true);
        assert_eq!(ips[0], IpAddr::V4(Ipv4Addr::LOCALHOST));
        assert_eq!(ips.iter().filter(|ip| ip.is_loopback()).count(), 1);
        assert!(!candidate_ips(false).is_empty());
    }
}
