//! A viewer made of a plain str0m peer, and a simulated network between it and a host
//! [`Session`], driven in simulated time (no sockets, no sleeps).

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use peerdesk_session::{Session, SessionConfig, SessionEvent};
use str0m::change::{SdpAnswer, SdpPendingOffer};
use str0m::channel::{ChannelConfig, ChannelId, Reliability};
use str0m::media::{Direction, KeyframeRequestKind, MediaData, MediaKind, Mid};
use str0m::net::{Protocol, Receive};
use str0m::rtp::Extension;
use str0m::{Candidate, Event, Input, Output, Rtc};

pub const HOST: &str = "10.0.0.1:5000";
pub const VIEWER: &str = "10.0.0.2:6000";

#[derive(Debug)]
pub struct Viewer {
    pub rtc: Rtc,
    pub mid: Mid,
    pub audio_mid: Mid,
    pub answer: String,
    pub input: ChannelId,
    pub motion: ChannelId,
    pub timeout: Instant,
    pub connected: bool,
    pub open_channels: usize,
    pub media: Vec<MediaData>,
}

#[derive(Debug)]
pub struct Pair {
    pub now: Instant,
    pub viewer: Viewer,
    pub host: Session,
    pub host_events: Vec<SessionEvent>,
    pending: Option<SdpPendingOffer>,
    /// Drop every datagram from host to viewer while set (simulated loss).
    pub drop_to_viewer: bool,
    /// Drop this share of the host's RTP datagrams at random (seeded, so every run is the
    /// same); each copy of a packet sent twice takes its own chance.
    pub rtp_loss: f64,
    /// The random state for `rtp_loss`.
    loss_seed: u64,
    /// RTP datagrams from host to viewer, and of them dropped.
    pub rtp_sent: u64,
    pub rtp_dropped: u64,
    /// A host address that no longer works (its network went): nothing leaves from it and
    /// nothing reaches it.
    pub dead: Option<SocketAddr>,
    /// Source addresses the host sent from since the last take.
    pub host_sources: Vec<SocketAddr>,
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

impl Pair {
    /// A viewer offers (video and audio recvonly, the two input channels), the host answers.
    pub fn new() -> Self {
        Self::with_config(SessionConfig::default())
    }

    /// As [`Pair::new`], with the host's session settings.
    pub fn with_config(config: SessionConfig) -> Self {
        peerdesk_session::init_crypto();
        let now = Instant::now();
        let mut rtc = Rtc::builder()
            .clear_codecs()
            .enable_h264(true)
            .enable_opus(true, false)
            .set_extension(5, Extension::PlayoutDelay)
            .build(now);
        rtc.add_local_candidate(Candidate::host(addr(VIEWER), "udp").unwrap());
        let mut api = rtc.sdp_api();
        let mid = api.add_media(MediaKind::Video, Direction::RecvOnly, None, None, None);
        let audio_mid = api.add_media(MediaKind::Audio, Direction::RecvOnly, None, None, None);
        let input = api.add_channel("input".into());
        let motion = api.add_channel_with_config(ChannelConfig {
            label: "motion".into(),
            ordered: false,
            reliability: Reliability::MaxRetransmits { retransmits: 0 },
            ..Default::default()
        });
        let (offer, pending) = api.apply().unwrap();
        let (host, answer) = Session::accept_offer(&offer.to_sdp_string(), &[addr(HOST)], now, &config)
            .expect("host accepts the offer");
        assert!(
            !answer.contains("a=ice-lite"),
            "the host is a full ICE agent (it checks the viewer's addresses too)"
        );
        let answer_text = answer.clone();
        let answer = SdpAnswer::from_sdp_string(&answer).unwrap();
        rtc.sdp_api().accept_answer(pending, answer).unwrap();
        let mut pair = Self {
            now,
            viewer: Viewer {
                rtc,
                mid,
                audio_mid,
                answer: answer_text,
                input,
                motion,
                timeout: now,
                connected: false,
                open_channels: 0,
                media: vec![],
            },
            host,
            host_events: vec![],
            pending: None,
            drop_to_viewer: false,
            rtp_loss: 0.0,
            loss_seed: 0x9e37_79b9_7f4a_7c15,
            rtp_sent: 0,
            rtp_dropped: 0,
            dead: None,
            host_sources: vec![],
        };
        pair.pump();
        pair
    }

    /// Moves every queued datagram and event until both sides are quiet.
    pub fn pump(&mut self) {
        for _ in 0..10_000 {
            let mut moved = false;
            // Viewer's output.
            loop {
                match self.viewer.rtc.poll_output().unwrap() {
                    Output::Timeout(t) => {
                        self.viewer.timeout = t;
                        break;
                    }
                    Output::Transmit(t) => {
                        moved = true;
                        if Some(t.destination) == self.dead {
                            continue;
                        }
                        self.host.handle_receive(self.now, t.source, t.destination, &t.contents).unwrap();
                    }
                    Output::Event(e) => match e {
                        Event::Connected => self.viewer.connected = true,
                        Event::ChannelOpen(..) => self.viewer.open_channels += 1,
                        Event::MediaData(m) => self.viewer.media.push(m),
                        _ => {}
                    },
                }
            }
            // Host's output.
            while let Some(t) = self.host.poll_transmit() {
                moved = true;
                if self.drop_to_viewer || Some(t.source) == self.dead {
                    continue;
                }
                if peerdesk_session::is_rtp(&t.contents) {
                    self.rtp_sent += 1;
                    if self.chance() < self.rtp_loss {
                        self.rtp_dropped += 1;
                        continue;
                    }
                }
                self.host_sources.push(t.source);
                let input = Input::Receive(
                    self.now,
                    Receive {
                        proto: Protocol::Udp,
                        source: t.source,
                        destination: t.destination,
                        contents: t.contents.as_slice().try_into().unwrap(),
                    },
                );
                self.viewer.rtc.handle_input(input).unwrap();
            }
            while let Some(e) = self.host.poll_event() {
                self.host_events.push(e);
            }
            if !moved {
                return;
            }
        }
        panic!("the two peers did not settle");
    }

    /// A number in [0, 1) from a xorshift generator.
    fn chance(&mut self) -> f64 {
        let mut x = self.loss_seed;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.loss_seed = x;
        (x >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Advances simulated time by `d`, firing every timeout on the way.
    pub fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        for _ in 0..100_000 {
            let next = self.viewer.timeout.min(self.host.poll_timeout()).max(self.now);
            if next > end {
                break;
            }
            self.now = next + Duration::from_micros(1);
            self.viewer.rtc.handle_input(Input::Timeout(self.now)).unwrap();
            self.host.handle_timeout(self.now).unwrap();
            self.pump();
        }
        self.now = end;
        self.viewer.rtc.handle_input(Input::Timeout(self.now)).unwrap();
        self.host.handle_timeout(self.now).unwrap();
        self.pump();
    }

    /// The host sends `frame` now, and every datagram that makes goes across at once.
    pub fn send_frame(&mut self, frame: &peerdesk_session::VideoFrame) {
        let now = self.now;
        self.host.send_video(now, frame).expect("send");
        self.pump();
    }

    /// Advances until both sides are connected and the channels are open (at most 10 s).
    pub fn connect(&mut self) {
        for _ in 0..1000 {
            if self.viewer.connected && self.host.is_connected() && self.viewer.open_channels >= 2 {
                return;
            }
            self.advance(Duration::from_millis(10));
        }
        panic!("no connection within 10 simulated seconds");
    }

    /// Takes the host's events seen so far.
    pub fn take_host_events(&mut self) -> Vec<SessionEvent> {
        std::mem::take(&mut self.host_events)
    }

    /// The viewer asks for a keyframe with a PLI.
    pub fn viewer_sends_pli(&mut self) {
        let mut w = self.viewer.rtc.writer(self.viewer.mid).expect("writer for the video mid");
        assert!(w.is_request_keyframe_possible(KeyframeRequestKind::Pli));
        w.request_keyframe(None, KeyframeRequestKind::Pli).unwrap();
        self.pump();
    }

    /// The viewer writes bytes on one of its channels.
    pub fn viewer_writes(&mut self, channel: ChannelId, bytes: &[u8]) {
        let mut ch = self.viewer.rtc.channel(channel).expect("channel open");
        ch.write(true, bytes).unwrap();
        self.pump();
    }
}

/// NAL unit types in an Annex-B buffer.
pub fn nal_types(annex_b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while i + 3 < annex_b.len() {
        if annex_b[i..].starts_with(&[0, 0, 1]) {
            out.push(annex_b[i + 3] & 0x1f);
            i += 3;
        } else {
            i += 1;
        }
    }
    out
}
