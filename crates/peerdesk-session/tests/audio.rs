//! A host session sends Opus to a real str0m viewer: the packets arrive whole, with the host
//! audio clock's RTP timestamps (gaps included, as discontinuous transmission leaves them), in
//! the same media stream as the video so the browser can synchronise the two.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod harness;

use std::sync::Arc;
use std::time::Duration;

use harness::Pair;
use peerdesk_session::AudioFrame;

#[test]
fn opus_packets_arrive_with_the_host_clock_timestamps() {
    let mut pair = Pair::new();
    assert!(pair.host.has_audio(), "the viewer offered audio with Opus");
    pair.connect();
    let start = pair.now;
    // 20 frames of 10 ms; frames 8 and 9 are silence that DTX does not send.
    for i in 0u64..20 {
        pair.advance(Duration::from_millis(10));
        if i == 8 || i == 9 {
            continue;
        }
        let frame = AudioFrame {
            data: Arc::from(vec![0xfc, i as u8, 1, 2, 3].as_slice()),
            rtp: 96_000 + i * 480,
            captured_at: start + Duration::from_millis(10 * i),
        };
        assert!(pair.host.send_audio(pair.now, &frame).unwrap());
    }
    pair.advance(Duration::from_millis(100));
    let audio: Vec<_> = pair.viewer.media.iter().filter(|m| m.mid == pair.viewer.audio_mid).collect();
    assert_eq!(audio.len(), 18, "every packet sent arrived");
    let first = audio[0].time.numer();
    for m in &audio {
        let i = u64::from(m.data[1]);
        assert_eq!(&m.data[..], &[0xfc, i as u8, 1, 2, 3], "payload intact");
        assert_eq!(m.time.numer() - first, i * 480, "frame {i} keeps its place on the clock");
        assert_eq!(m.time.frequency().get(), 48_000);
    }
    assert_eq!(pair.host.counters().audio_sent, 18);
}

#[test]
fn the_answer_puts_audio_and_video_in_one_stream() {
    let pair = Pair::new();
    let streams: Vec<&str> = pair
        .viewer
        .answer
        .lines()
        .filter_map(|l| l.strip_prefix("a=msid:"))
        .map(|rest| rest.split(' ').next().unwrap())
        .collect();
    assert_eq!(streams.len(), 2, "an msid for audio and for video: {}", pair.viewer.answer);
    assert_eq!(streams[0], streams[1], "one stream id");
    let ssrc_streams: Vec<&str> = pair
        .viewer
        .answer
        .lines()
        .filter_map(|l| l.split_once(" msid:").map(|(_, r)| r.split(' ').next().unwrap()))
        .collect();
    assert!(ssrc_streams.iter().all(|s| *s == streams[0]), "ssrc lines agree: {ssrc_streams:?}");
}

#[test]
fn a_page_without_audio_gets_video_only() {
    // An offer Chromium made for the web client before it took sound: video and data
    // channels, no audio section.
    let offer = include_str!("fixtures/chromium-156-offer-no-audio.sdp");
    let addr = "127.0.0.1:5000".parse().unwrap();
    let (mut session, answer) = peerdesk_session::Session::accept_offer(
        offer,
        &[addr],
        std::time::Instant::now(),
        &Default::default(),
    )
    .unwrap();
    assert!(!session.has_audio());
    assert!(!answer.contains("m=audio"));
    let frame =
        AudioFrame { data: Arc::from(&[1u8, 2, 3][..]), rtp: 0, captured_at: std::time::Instant::now() };
    assert!(!session.send_audio(std::time::Instant::now(), &frame).unwrap());
}

#[test]
fn a_host_without_sound_refuses_the_audio_section() {
    let mut pair = Pair::with_config(peerdesk_session::SessionConfig { audio: false, ..Default::default() });
    assert!(!pair.host.has_audio());
    let audio_section =
        pair.viewer.answer.split("m=").find(|m| m.starts_with("audio")).expect("an audio section");
    assert!(
        audio_section.starts_with("audio 0 ") || audio_section.contains("a=inactive"),
        "refused or inactive: {audio_section}"
    );
    // Video still flows.
    pair.connect();
}
