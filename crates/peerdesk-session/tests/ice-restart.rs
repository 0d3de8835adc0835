//! The host's network changes under a running session: its old address stops working. With
//! an ICE restart (new credentials, the new address offered, the viewer's answer) the session
//! moves to the new address and stays up; without one it dies.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod harness;

use std::net::SocketAddr;
use std::time::Duration;

use harness::{HOST, Pair};
use str0m::change::SdpOffer;

const NEW: &str = "10.0.0.3:5002";

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

#[test]
fn an_ice_restart_moves_the_session_to_the_new_address() {
    let mut pair = Pair::new();
    pair.connect();
    pair.dead = Some(addr(HOST));
    let offer = pair.host.restart_ice(pair.now, &[addr(NEW)]).unwrap();
    assert!(offer.contains("10.0.0.3 5002 typ host"), "{offer}");
    let offer = SdpOffer::from_sdp_string(&offer).unwrap();
    let answer = pair.viewer.rtc.sdp_api().accept_offer(offer).unwrap();
    pair.host.accept_answer(pair.now, &answer.to_sdp_string()).unwrap();
    pair.host_sources.clear();
    pair.advance(Duration::from_secs(20));
    assert!(pair.host.is_alive() && pair.host.is_connected(), "the session survived the move");
    assert!(pair.host_sources.contains(&addr(NEW)), "the host sends from its new address");
    // An answer nobody asked for is refused, not applied.
    assert!(pair.host.accept_answer(pair.now, &pair.viewer.answer.clone()).is_err());
}

#[test]
fn without_a_restart_the_session_dies_with_its_address() {
    let mut pair = Pair::new();
    pair.connect();
    pair.dead = Some(addr(HOST));
    pair.advance(Duration::from_secs(40));
    assert!(!pair.host.is_alive() || !pair.host.is_connected(), "the old path is gone");
}

#[test]
fn the_viewer_restarts_ice_and_an_offer_of_another_dtls_identity_is_refused() {
    let mut pair = Pair::new();
    pair.connect();
    let mut api = pair.viewer.rtc.sdp_api();
    api.ice_restart(true);
    let (offer, pending) = api.apply().expect("a restart offer");
    let answer = pair.host.accept_restart(pair.now, &offer.to_sdp_string()).unwrap();
    let answer = str0m::change::SdpAnswer::from_sdp_string(&answer).unwrap();
    pair.viewer.rtc.sdp_api().accept_answer(pending, answer).unwrap();
    pair.advance(Duration::from_secs(10));
    assert!(pair.host.is_alive() && pair.host.is_connected(), "the session goes on");
    // Another peer's offer (another DTLS certificate) cannot take the session over.
    let mut rtc = str0m::Rtc::builder().build(pair.now);
    let mut api = rtc.sdp_api();
    api.add_media(str0m::media::MediaKind::Video, str0m::media::Direction::RecvOnly, None, None, None);
    let (foreign, _) = api.apply().unwrap();
    let refused = pair.host.accept_restart(pair.now, &foreign.to_sdp_string());
    assert!(matches!(refused, Err(peerdesk_session::SessionError::FingerprintChanged)), "{refused:?}");
}
