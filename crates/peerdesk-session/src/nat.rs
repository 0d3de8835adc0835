//! NAT traversal for one viewer, sans-IO: server-reflexive candidates through STUN, a relayed
//! one through TURN (turn-client-proto).
//!
//! [`Gatherer`] never touches a socket: the host's viewer task gives it the datagrams that
//! arrive on its sockets and sends what it asks to; it reports the candidates it finds, to add
//! to the [`Session`](crate::Session) and trickle to the page. Once a relay is allocated, what
//! the session sends from the relayed address goes through [`Gatherer::send`] (wrapped for
//! the TURN server), and what the server relays comes out of [`Gatherer::handle_receive`] as
//! the peer's datagram.

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use tracing::{debug, info, warn};
use turn_client_proto::api::{TurnClientApi, TurnConfig, TurnEvent, TurnPollRet, TurnRecvRet};
use turn_client_proto::prelude::DelayedTransmitBuild;
use turn_client_proto::stun::agent::Transmit;
use turn_client_proto::stun::types::TransportType;
use turn_client_proto::stun::types::attribute::XorMappedAddress;
use turn_client_proto::stun::types::message::{
    BINDING, Message, MessageClass, MessageWrite, MessageWriteVec, TransactionId,
};
use turn_client_proto::types::TurnCredentials;
use turn_client_proto::udp::TurnClientUdp;

/// STUN requests are sent this many times before giving up, the first retry this long after the
/// first request and each wait twice the one before (as RFC 5389 says: a busy or distant server
/// answers late, and three tries in a second and a half lost a loaded machine's srflx).
const STUN_TRIES: u32 = 6;
const STUN_RETRY: Duration = Duration::from_millis(500);

/// A TURN server and the credentials for it.
#[derive(Clone)]
pub struct TurnServer {
    /// Where it listens (UDP).
    pub addr: SocketAddr,
    /// The TURN REST username.
    pub username: String,
    /// Its password (never logged).
    pub password: String,
}

impl std::fmt::Debug for TurnServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TurnServer").field("addr", &self.addr).field("username", &self.username).finish()
    }
}

/// The servers a viewer's candidates are gathered from.
#[derive(Clone, Debug, Default)]
pub struct NatServers {
    /// STUN servers (TURN servers answer STUN too, and are listed here as well).
    pub stun: Vec<SocketAddr>,
    /// TURN servers; the first gives the relay.
    pub turn: Vec<TurnServer>,
    /// Relayed candidates only: no host or server-reflexive ones.
    pub relay_only: bool,
}

/// A candidate found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Found {
    /// Our address as a STUN server saw it, and the socket it is for.
    Reflexive {
        /// The mapped address.
        addr: SocketAddr,
        /// The local socket.
        base: SocketAddr,
    },
    /// An address on a TURN server relaying to us, and the socket that talks to the server.
    Relayed {
        /// The relayed address.
        addr: SocketAddr,
        /// The local socket.
        local: SocketAddr,
    },
}

/// What an arriving datagram was.
#[derive(Debug, PartialEq, Eq)]
pub enum Received {
    /// Not ours: for the session.
    NotOurs,
    /// A STUN or TURN message for us; nothing more to do.
    Handled,
    /// A peer's datagram, relayed: give it to the session as arriving at `relayed`.
    Peer {
        /// Who sent it.
        from: SocketAddr,
        /// Our relayed address.
        relayed: SocketAddr,
        /// What it sent.
        data: Vec<u8>,
    },
}

struct StunRequest {
    id: TransactionId,
    local: SocketAddr,
    server: SocketAddr,
    bytes: Vec<u8>,
    tries: u32,
    next: Instant,
}

struct Relay {
    client: TurnClientUdp,
    local: SocketAddr,
    server: SocketAddr,
    relayed: Option<SocketAddr>,
    permitted: HashSet<IpAddr>,
    /// When the client last said it wants polling again (from the last `poll(now)`).
    wait: Option<turn_client_proto::stun::Instant>,
}

/// Gathers one viewer's server-reflexive and relayed candidates and carries its relayed
/// traffic.
pub struct Gatherer {
    base: Instant,
    stun: Vec<SocketAddr>,
    relay_only: bool,
    requests: Vec<StunRequest>,
    relay: Option<Relay>,
    out: Vec<(SocketAddr, SocketAddr, Vec<u8>)>,
    found: Vec<Found>,
    reflexive: HashSet<SocketAddr>,
}

impl std::fmt::Debug for Gatherer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gatherer")
            .field("stun_pending", &self.requests.len())
            .field("relayed", &self.relay.as_ref().and_then(|r| r.relayed))
            .finish()
    }
}

impl Gatherer {
    /// Starts gathering: STUN requests from each of `locals` (unless relay only) and a TURN
    /// allocation from `turn_local`, the socket kept for the TURN server.
    pub fn new(
        servers: &NatServers,
        locals: &[SocketAddr],
        turn_local: Option<SocketAddr>,
        now: Instant,
    ) -> Self {
        let mut g = Self {
            base: now,
            stun: servers.stun.clone(),
            relay_only: servers.relay_only,
            requests: Vec::new(),
            relay: None,
            out: Vec::new(),
            found: Vec::new(),
            reflexive: HashSet::new(),
        };
        g.gather_from(locals, now);
        if let (Some(turn), Some(local)) = (servers.turn.first(), turn_local) {
            let config = TurnConfig::new(TurnCredentials::new(&turn.username, &turn.password));
            let client = TurnClientUdp::allocate(local, turn.addr, config);
            g.relay = Some(Relay {
                client,
                local,
                server: turn.addr,
                relayed: None,
                permitted: HashSet::new(),
                wait: None,
            });
        }
        g.handle_timeout(now);
        g
    }

    /// Asks the STUN servers about more sockets (opened after a change of network).
    pub fn gather_from(&mut self, locals: &[SocketAddr], now: Instant) {
        if self.relay_only {
            return;
        }
        for &local in locals.iter().filter(|l| !l.ip().is_loopback()) {
            for &server in &self.stun {
                let bytes = Message::builder_request(BINDING, MessageWriteVec::new()).finish();
                let Ok(id) = Message::from_bytes(&bytes).map(|m| m.transaction_id()) else { continue };
                self.requests.push(StunRequest { id, local, server, bytes, tries: 0, next: now });
            }
        }
        self.handle_timeout(now);
    }

    fn at(&self, now: Instant) -> turn_client_proto::stun::Instant {
        let nanos = now.saturating_duration_since(self.base).as_nanos();
        turn_client_proto::stun::Instant::from_nanos(i64::try_from(nanos).unwrap_or(i64::MAX))
    }

    /// The relayed address, once allocated.
    pub fn relayed(&self) -> Option<SocketAddr> {
        self.relay.as_ref().and_then(|r| r.relayed)
    }

    /// The next datagram to send: (from local socket, to, bytes).
    pub fn poll_transmit(&mut self) -> Option<(SocketAddr, SocketAddr, Vec<u8>)> {
        if self.out.is_empty() { None } else { Some(self.out.remove(0)) }
    }

    /// The next candidate found.
    pub fn poll_found(&mut self) -> Option<Found> {
        if self.found.is_empty() { None } else { Some(self.found.remove(0)) }
    }

    /// When [`Gatherer::handle_timeout`] wants calling next.
    pub fn timeout(&self) -> Option<Instant> {
        let stun = self.requests.iter().map(|r| r.next).min();
        let turn = self.relay.as_ref().and_then(|r| r.wait).map(|t| t.to_std(self.base));
        match (stun, turn) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Retransmits, refreshes the allocation and its permissions.
    pub fn handle_timeout(&mut self, now: Instant) {
        // Unanswered after the last try: that server gives nothing from that socket.
        self.requests.retain(|r| r.next > now || r.tries < STUN_TRIES);
        for r in &mut self.requests {
            if r.next <= now {
                r.next = now + STUN_RETRY * 2u32.pow(r.tries.min(10));
                r.tries += 1;
                self.out.push((r.local, r.server, r.bytes.clone()));
            }
        }
        let at = self.at(now);
        self.drain_turn(at);
    }

    /// Lets the TURN client act at `at` (retransmits, refreshes), keeps when it wants to act
    /// next, and takes what it sends and reports.
    fn drain_turn(&mut self, at: turn_client_proto::stun::Instant) {
        let Some(relay) = &mut self.relay else { return };
        relay.wait = match relay.client.poll(at) {
            TurnPollRet::WaitUntil(t) => Some(t),
            TurnPollRet::Closed => {
                debug!("the TURN allocation closed");
                None
            }
            _ => relay.wait,
        };
        while let Some(t) = relay.client.poll_transmit(at) {
            self.out.push((t.from, t.to, t.data.to_vec()));
        }
        while let Some(e) = relay.client.poll_event() {
            match e {
                TurnEvent::AllocationCreated(TransportType::Udp, addr) => {
                    info!(relayed = %addr, server = %relay.server, "TURN relay allocated");
                    relay.relayed = Some(addr);
                    self.found.push(Found::Relayed { addr, local: relay.local });
                }
                TurnEvent::AllocationCreateFailed(family) => {
                    warn!(server = %relay.server, "the TURN server refused a relay ({family:?}): check its credentials and that it runs use-auth-secret with the server's --turn-secret-file");
                }
                TurnEvent::PermissionCreateFailed(_, ip) => debug!(%ip, "TURN permission refused"),
                other => debug!("TURN: {other:?}"),
            }
        }
    }

    /// Lets `ip` (a remote candidate's) reach us through the relay.
    pub fn permit(&mut self, ip: IpAddr, now: Instant) {
        let at = self.at(now);
        let Some(relay) = &mut self.relay else { return };
        if relay.relayed.is_none() || ip.is_ipv6() || !relay.permitted.insert(ip) {
            return;
        }
        if let Err(e) = relay.client.create_permission(TransportType::Udp, ip, at) {
            debug!(%ip, "cannot ask for a TURN permission: {e}");
        }
        self.drain_turn(at);
    }

    /// Handles a datagram that arrived on `local` from `source`.
    pub fn handle_receive(
        &mut self,
        now: Instant,
        source: SocketAddr,
        local: SocketAddr,
        data: &[u8],
    ) -> Received {
        if let Some(i) = self.requests.iter().position(|r| r.server == source && r.local == local) {
            let Ok(msg) = Message::from_bytes(data) else { return Received::NotOurs };
            if msg.transaction_id() != self.requests[i].id {
                return Received::NotOurs;
            }
            let req = self.requests.swap_remove(i);
            if msg.has_class(MessageClass::Success)
                && let Ok(xor) = msg.attribute::<XorMappedAddress>()
            {
                let addr = xor.addr(req.id);
                if addr != local && self.reflexive.insert(addr) {
                    debug!(%addr, base = %local, "server-reflexive address");
                    self.found.push(Found::Reflexive { addr, base: local });
                }
            }
            return Received::Handled;
        }
        let at = self.at(now);
        let Some(relay) = &mut self.relay else { return Received::NotOurs };
        if relay.server != source || relay.local != local {
            return Received::NotOurs;
        }
        let transmit = Transmit { data, transport: TransportType::Udp, from: source, to: local };
        let ret = match relay.client.recv(transmit, at) {
            TurnRecvRet::Handled => Received::Handled,
            TurnRecvRet::Ignored(_) => Received::NotOurs,
            TurnRecvRet::PeerData(p) => match relay.relayed {
                Some(relayed) => Received::Peer { from: p.peer, relayed, data: p.data().to_vec() },
                None => Received::Handled,
            },
            TurnRecvRet::PeerIcmp { .. } => Received::Handled,
        };
        self.drain_turn(at);
        ret
    }

    /// Sends `data` from our relayed address to `to` through the TURN server; false when
    /// `from` is not our relayed address (the caller sends it itself).
    pub fn send(&mut self, now: Instant, from: SocketAddr, to: SocketAddr, data: &[u8]) -> bool {
        let at = self.at(now);
        let Some(relay) = &mut self.relay else { return false };
        if relay.relayed != Some(from) {
            return false;
        }
        if !relay.permitted.contains(&to.ip()) {
            self.permit(to.ip(), now);
        }
        let Some(relay) = &mut self.relay else { return true };
        match relay.client.send_to(TransportType::Udp, to, data, at) {
            Ok(Some(t)) => {
                let (from, to) = (t.from, t.to);
                self.out.push((from, to, t.data.build()));
            }
            Ok(None) => {}
            Err(e) => debug!(%to, "cannot relay to the viewer yet: {e}"),
        }
        self.drain_turn(at);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use turn_client_proto::stun::types::message::MessageWriteExt;

    #[test]
    fn a_binding_response_gives_a_reflexive_candidate_and_others_are_not_ours() {
        let servers = NatServers { stun: vec!["192.0.2.1:3478".parse().unwrap()], ..NatServers::default() };
        let local: SocketAddr = "10.0.0.2:5000".parse().unwrap();
        let now = Instant::now();
        let mut g = Gatherer::new(&servers, &[local, "127.0.0.1:6000".parse().unwrap()], None, now);
        let (from, to, req) = g.poll_transmit().expect("a binding request");
        assert_eq!((from, to), (local, servers.stun[0]));
        assert!(g.poll_transmit().is_none(), "none from loopback");
        let req = Message::from_bytes(&req).unwrap();
        let mapped: SocketAddr = "203.0.113.7:40000".parse().unwrap();
        let mut resp = Message::builder_success(&req, MessageWriteVec::new());
        resp.add_attribute(&XorMappedAddress::new(mapped, req.transaction_id())).unwrap();
        let resp = resp.finish();
        assert_eq!(g.handle_receive(now, servers.stun[0], local, b"not stun"), Received::NotOurs);
        assert_eq!(g.handle_receive(now, servers.stun[0], local, &resp), Received::Handled);
        assert_eq!(g.poll_found(), Some(Found::Reflexive { addr: mapped, base: local }));
        // The same answer again is not ours any more (the request is done).
        assert_eq!(g.handle_receive(now, servers.stun[0], local, &resp), Received::NotOurs);
        assert!(!g.send(now, local, mapped, b"x"), "no relay: the caller sends");
    }

    #[test]
    fn requests_are_retried_then_given_up() {
        let servers = NatServers { stun: vec!["192.0.2.1:3478".parse().unwrap()], ..NatServers::default() };
        let now = Instant::now();
        let mut g = Gatherer::new(&servers, &["10.0.0.2:5000".parse().unwrap()], None, now);
        let mut sent = Vec::new();
        let mut t = now;
        for _ in 0..400 {
            while g.poll_transmit().is_some() {
                sent.push(t.duration_since(now).as_millis());
            }
            t += Duration::from_millis(100);
            g.handle_timeout(t);
        }
        // At once, then after 0.5, 1, 2 and 4 s more: the waits double.
        assert_eq!(sent, vec![0, 500, 1500, 3500, 7500, 15500]);
        assert!(g.timeout().is_none(), "given up after the last wait");
    }

    #[test]
    fn relay_only_asks_no_stun() {
        let servers = NatServers {
            stun: vec!["192.0.2.1:3478".parse().unwrap()],
            relay_only: true,
            ..Default::default()
        };
        let mut g = Gatherer::new(&servers, &["10.0.0.2:5000".parse().unwrap()], None, Instant::now());
        assert!(g.poll_transmit().is_none());
    }
}
