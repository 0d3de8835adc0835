//! Datagrams from the network reaching a viewer's NAT gatherer (what a STUN or TURN server, or
//! anyone spoofing one, sends): never a panic, whatever the bytes; a STUN server's garbage
//! never becomes a candidate unless it is a well-formed answer to our own request.
#![no_main]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use peerdesk_session::nat::{Gatherer, NatServers, Received, TurnServer};

fuzz_target!(|data: &[u8]| {
    let stun: SocketAddr = "192.0.2.1:3478".parse().unwrap();
    let turn: SocketAddr = "192.0.2.2:3478".parse().unwrap();
    let local: SocketAddr = "10.0.0.2:5000".parse().unwrap();
    let turn_local: SocketAddr = "0.0.0.0:6000".parse().unwrap();
    let servers = NatServers {
        stun: vec![stun, turn],
        turn: vec![TurnServer { addr: turn, username: "1:2".into(), password: "pw".into() }],
        relay_only: false,
    };
    let mut now = Instant::now();
    let mut g = Gatherer::new(&servers, &[local], Some(turn_local), now);
    while g.poll_transmit().is_some() {}
    // Each chunk (split at 0xff 0xff) arrives from one of the servers, in turn.
    for (i, chunk) in data.split(|&b| b == 0xff).enumerate() {
        let (from, to) = if i % 2 == 0 { (stun, local) } else { (turn, turn_local) };
        match g.handle_receive(now, from, to, chunk) {
            Received::Peer { data, .. } => assert!(data.len() <= chunk.len()),
            Received::NotOurs | Received::Handled => {}
        }
        let _ = g.send(now, "203.0.113.9:1".parse().unwrap(), "198.51.100.1:9".parse().unwrap(), chunk);
        now += Duration::from_millis(300);
        g.handle_timeout(now);
        while g.poll_transmit().is_some() {}
        while g.poll_found().is_some() {}
    }
});
