//! The answer to a real Chromium offer (captured from Debian's Chromium 156.0.8078 with the web
//! client's settings: H.264 and its RTX, Opus, the input channels) negotiates what the host relies on.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

use peerdesk_session::{Session, SessionConfig, SessionError, VideoCodec};

const OFFER: &str = include_str!("fixtures/chromium-156-offer.sdp");

fn answer() -> String {
    let local = ["127.0.0.1:40000".parse().unwrap(), "192.0.2.7:40001".parse().unwrap()];
    Session::accept_offer(OFFER, &local, Instant::now(), &SessionConfig::default()).expect("accepts").1
}

fn video_section(sdp: &str) -> String {
    let start = sdp.find("m=video").expect("video section");
    let rest = &sdp[start..];
    let end = rest[2..].find("\nm=").map_or(rest.len(), |i| i + 3);
    rest[..end].to_owned()
}

#[test]
fn answer_is_full_ice_with_every_host_candidate() {
    let a = answer();
    // A full agent: it checks the viewer's addresses too, which opens its own NAT.
    assert!(!a.contains("a=ice-lite"), "{a}");
    assert!(a.contains(" 127.0.0.1 40000 typ host"), "{a}");
    assert!(a.contains(" 192.0.2.7 40001 typ host"), "{a}");
}

#[test]
fn video_is_sent_as_h264_packetization_mode_1_with_playout_delay() {
    let v = video_section(&answer());
    assert!(v.contains("a=sendonly"), "{v}");
    assert!(v.contains("H264/90000"), "{v}");
    assert!(v.contains("packetization-mode=1"), "{v}");
    assert!(v.contains("profile-level-id=42e01f") || v.contains("profile-level-id=42001f"), "{v}");
    // Same id as Chromium offered (5), so the browser reads it.
    assert!(v.contains("a=extmap:5 http://www.webrtc.org/experiments/rtp-hdrext/playout-delay"), "{v}");
}

#[test]
fn lost_packets_can_be_resent_and_the_bandwidth_estimated() {
    let v = video_section(&answer());
    // RTX (a resend instead of a keyframe for a lost packet), NACK and PLI, and the
    // transport-wide feedback the bandwidth estimate is made from.
    assert!(v.contains("rtx/90000"), "{v}");
    assert!(v.contains("a=fmtp:103 apt=102") || v.contains("a=fmtp:109 apt=108"), "{v}");
    assert!(v.contains("nack\r\n") && v.contains("nack pli"), "{v}");
    assert!(v.contains("transport-cc"), "{v}");
    assert!(v.contains("transport-wide-cc-extensions-01"), "{v}");
}

#[test]
fn data_channels_are_accepted() {
    assert!(answer().contains("m=application"), "SCTP section answered");
}

#[test]
fn broken_and_videoless_offers_are_refused_with_a_reason() {
    let local = ["127.0.0.1:40000".parse().unwrap()];
    let now = Instant::now();
    let cfg = SessionConfig::default();
    assert!(matches!(Session::accept_offer("garbage", &local, now, &cfg), Err(SessionError::BadOffer(_))));
    let truncated = &OFFER[..OFFER.len() / 2];
    assert!(Session::accept_offer(truncated, &local, now, &cfg).is_err());
    let no_h264 = OFFER.replace("H264/90000", "VP8/90000");
    assert!(matches!(Session::accept_offer(&no_h264, &local, now, &cfg), Err(SessionError::NoH264(false))));
}

/// Chromium's offer with the web client's codecs (H.264 and AV1, each with RTX), as Debian's
/// Chromium 156 makes it.
const OFFER_AV1: &str = include_str!("fixtures/chromium-156-offer-av1.sdp");

fn session_for(offer: &str, codecs: Vec<VideoCodec>) -> (Session, String) {
    let local = ["127.0.0.1:40000".parse().unwrap()];
    let cfg = SessionConfig { video_codecs: codecs, ..SessionConfig::default() };
    Session::accept_offer(offer, &local, Instant::now(), &cfg).expect("accepts")
}

#[test]
fn a_host_with_av1_sends_it_to_a_browser_that_offers_it() {
    let (session, answer) = session_for(OFFER_AV1, vec![VideoCodec::Av1, VideoCodec::H264]);
    assert_eq!(session.video_codec(), VideoCodec::Av1);
    let v = video_section(&answer);
    assert!(v.contains("AV1/90000"), "{v}");
    // H.264 stays in the answer: the browser may decode either.
    assert!(v.contains("H264/90000"), "{v}");
}

#[test]
fn a_host_without_av1_answers_h264_only() {
    let (session, answer) = session_for(OFFER_AV1, vec![VideoCodec::H264]);
    assert_eq!(session.video_codec(), VideoCodec::H264);
    let v = video_section(&answer);
    assert!(!v.contains("AV1"), "{v}");
    assert!(v.contains("H264/90000"), "{v}");
}

#[test]
fn a_browser_without_av1_gets_h264_from_a_host_with_av1() {
    let (session, answer) = session_for(OFFER, vec![VideoCodec::Av1, VideoCodec::H264]);
    assert_eq!(session.video_codec(), VideoCodec::H264);
    assert!(video_section(&answer).contains("H264/90000"));
    // Neither codec offered: refused, naming both.
    let local = ["127.0.0.1:40000".parse().unwrap()];
    let cfg =
        SessionConfig { video_codecs: vec![VideoCodec::Av1, VideoCodec::H264], ..SessionConfig::default() };
    let vp8 = OFFER_AV1.replace("H264/90000", "VP8/90000").replace("AV1/90000", "VP9/90000");
    let err = Session::accept_offer(&vp8, &local, Instant::now(), &cfg).unwrap_err();
    assert!(matches!(err, SessionError::NoH264(true)), "{err}");
    assert!(err.to_string().contains("nor AV1"), "{err}");
}
