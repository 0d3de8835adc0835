//! One viewer's connection: the answer to its offer, video out, input in.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use peerdesk_proto::{InputDecodeError, InputEvent, ViewerMessage, ViewerMessageError};
use str0m::bwe::{Bitrate, BweKind};
use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::format::Codec;
use str0m::media::{Frequency, MediaTime, Mid, Pt};
use str0m::net::{Protocol, Receive};
use str0m::rtp::Extension;
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc, RtcError};
use tracing::{debug, info};

use crate::KeyframeThrottle;
use crate::redundancy::{Redundancy, is_rtp};
use crate::verdict::{EstimateCheck, Verdict};

/// RTP header extension id for playout-delay when the offer does not name one.
const PLAYOUT_DELAY_EXT_ID: u8 = 12;
/// How soon a timeout str0m asks for counts as a turn its pacer wants at once (it asks for
/// the next microsecond between two packets).
const PACER_TURN: Duration = Duration::from_micros(1);
/// Most such turns in one drain (a 1080p keyframe is a few hundred packets).
const MAX_TURNS: usize = 4096;

/// Settings of a session.
#[derive(Clone, Debug)]
pub struct SessionConfig {
    /// Least time between two keyframes asked for by this viewer.
    pub keyframe_interval: Duration,
    /// Whether the host sends sound. Without it the page's audio section is refused, so the
    /// page knows there is none.
    pub audio: bool,
    /// Most the browser may delay the picture (the playout-delay maximum; the minimum is
    /// always 0). Zero, the default, shows every frame as soon as it is decoded; more lets the
    /// browser hold the picture back to match the sound (`--av-sync`).
    pub max_playout_delay: Duration,
    /// Bandwidth estimation from the viewer's transport-wide feedback (TWCC), which also paces
    /// the packets out; `None` sends every packet at once and estimates nothing.
    pub bandwidth: Option<BandwidthConfig>,
    /// Send every RTP packet twice while the viewer reports loss ([`crate::Redundancy`]).
    pub redundancy: bool,
    /// The video codecs the host sends, the one it prefers first: the first of them that the
    /// viewer's offer has is what this viewer gets. Empty: H.264.
    pub video_codecs: Vec<VideoCodec>,
}

/// A video codec a session can send.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum VideoCodec {
    /// H.264 with packetization-mode=1 (Constrained Baseline preferred).
    H264,
    /// AV1 (profile 0, main).
    Av1,
}

/// What the bandwidth estimator starts from and looks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BandwidthConfig {
    /// The estimate before any feedback (the host's video bitrate: the host starts at full
    /// quality and backs off when the network says so).
    pub start_bps: u64,
    /// The most the estimator probes for: enough above the video's bitrate that the host's
    /// share of the estimate can reach it.
    pub desired_bps: u64,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            keyframe_interval: Duration::from_millis(300),
            audio: true,
            max_playout_delay: Duration::ZERO,
            bandwidth: None,
            redundancy: true,
            video_codecs: vec![VideoCodec::H264],
        }
    }
}

/// What the session knows of the network path to its viewer.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NetworkStats {
    /// The bandwidth estimate (TWCC), once there is one.
    pub estimate_bps: Option<u64>,
    /// Fraction of the packets the path to the viewer loses lately (0 to 1): what the viewer
    /// reports, or while packets go out twice, what that implies for one copy.
    pub loss: f32,
    /// Whether RTP packets go out twice (loss was seen).
    pub redundant: bool,
    /// Round-trip time, from the viewer's reports.
    pub rtt: Option<Duration>,
    /// How far the latest round trip is over the least seen: a queue on the path when large.
    pub queue_delay: Option<Duration>,
    /// What the estimate is taken for ([`crate::EstimateCheck`]).
    pub verdict: Verdict,
    /// Times the estimator was restarted after a drop that the path did not confirm.
    pub estimate_resets: u32,
    /// Retransmission requests (NACK) from the viewer, in all.
    pub nacks: u64,
    /// Picture loss indications.
    pub plis: u64,
    /// Full intra requests.
    pub firs: u64,
}

/// What a session tells the host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SessionEvent {
    /// ICE and DTLS are up; media flows from now on.
    Connected,
    /// The viewer needs a keyframe (it joined, or it lost packets); already throttled.
    KeyframeNeeded,
    /// The viewer sent an input event.
    Input(InputEvent),
    /// The viewer sent bytes that are not an input event; they were dropped.
    BadInput(InputDecodeError),
    /// The page sent a text message (clipboard, settings).
    Message(ViewerMessage),
    /// The page sent text that is not a message we take; it was dropped.
    BadMessage(ViewerMessageError),
    /// The reliable `input` channel is open: the host can send control messages now.
    ControlReady,
    /// The connection is gone; drop the session.
    Disconnected,
}

/// A datagram to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// Local address to send from.
    pub source: SocketAddr,
    /// Where to send it.
    pub destination: SocketAddr,
    /// The bytes.
    pub contents: Vec<u8>,
}

/// One encoded video frame, shared between sessions without copying.
#[derive(Clone, Debug)]
pub struct VideoFrame {
    /// H.264 Annex-B.
    pub data: Arc<[u8]>,
    /// Whether it is an IDR.
    pub keyframe: bool,
    /// When its picture was captured (the RTP timestamp is derived from it).
    pub captured_at: Instant,
}

/// One encoded audio frame (Opus), shared between sessions without copying.
#[derive(Clone, Debug)]
pub struct AudioFrame {
    /// The Opus packet.
    pub data: Arc<[u8]>,
    /// RTP timestamp (48 kHz) of its first sample; the host's audio clock counts it.
    pub rtp: u64,
    /// When its first sample was captured (the wall clock beside `rtp`, for A/V sync).
    pub captured_at: Instant,
}

/// Why a session could not be set up or driven.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The offer is not valid SDP.
    #[error("the viewer's offer is not valid SDP: {0}")]
    BadOffer(String),
    /// The offer has no video section to send on.
    #[error("the viewer's offer has no video section")]
    NoVideo,
    /// The offer's video section has none of the host's codecs (H.264 with
    /// packetization-mode=1, or AV1 where the host makes it).
    #[error(
        "the viewer's browser does not offer H.264 (packetization-mode=1){}; use a browser with H.264 support", if *.0 { " nor AV1" } else { "" }
    )]
    NoH264(bool),
    /// A new offer for a running session with another DTLS fingerprint: not the same viewer.
    #[error("a new offer for this session with another DTLS fingerprint")]
    FingerprintChanged,
    /// An answer came with no offer of ours waiting for it.
    #[error("an answer from the viewer without an offer of ours")]
    UnexpectedAnswer,
    /// The viewer's answer is not valid SDP.
    #[error("the viewer's answer is not valid SDP: {0}")]
    BadAnswer(String),
    /// A local address could not be used as an ICE candidate.
    #[error("cannot use {0} as an ICE candidate")]
    BadCandidate(SocketAddr),
    /// str0m refused an operation.
    #[error("WebRTC error: {0}")]
    Rtc(#[from] RtcError),
}

/// Counters of one session.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SessionCounters {
    /// Video frames handed to str0m.
    pub frames_sent: u64,
    /// Audio packets handed to str0m.
    pub audio_sent: u64,
    /// Of which keyframes.
    pub keyframes_sent: u64,
    /// Frames skipped while waiting for a keyframe.
    pub frames_skipped: u64,
    /// Input events decoded.
    pub input_events: u64,
    /// Input messages refused.
    pub bad_input: u64,
    /// RTP packets sent a second time against loss.
    pub copies_sent: u64,
}

/// The host's side of one viewer's connection. See the crate docs for the drive loop.
#[derive(Debug)]
pub struct Session {
    rtc: Rtc,
    video: Option<(Mid, Pt)>,
    video_codec: VideoCodec,
    audio: Option<(Mid, Pt)>,
    max_playout_delay: MediaTime,
    offered_video: bool,
    start: Instant,
    last_rtp: Option<u64>,
    now: Instant,
    timeout: Instant,
    throttle: KeyframeThrottle,
    awaiting_keyframe: bool,
    connected: bool,
    closed: bool,
    transmits: VecDeque<Transmit>,
    events: VecDeque<SessionEvent>,
    counters: SessionCounters,
    control: Option<str0m::channel::ChannelId>,
    network: NetworkStats,
    redundancy: Redundancy,
    check: EstimateCheck,
    /// When the viewer's reports last gave a round trip.
    rtt_at: Option<Instant>,
    /// Video bytes written lately, for the bitrate sent.
    sent: VecDeque<(Instant, usize)>,
    /// Our ICE restart offer, waiting for the viewer's answer.
    pending: Option<SdpPendingOffer>,
    /// The viewer's DTLS fingerprint line, which an ICE restart must not change.
    fingerprint: Option<String>,
}

/// How often str0m reports its statistics (loss, round trip, feedback counts).
const STATS_INTERVAL: Duration = Duration::from_secs(1);
/// A queue figure from receiver reports older than this is dropped (the viewer sends one about
/// every second).
const RTT_STALE: Duration = Duration::from_secs(3);

/// Label of the reliable data channel, which also carries the host's control messages.
const CONTROL_CHANNEL: &str = "input";

/// The `a=fingerprint:` line of an SDP (the first; they are all the same in a bundle).
fn fingerprint_line(sdp: &str) -> Option<String> {
    sdp.lines().map(str::trim).find(|l| l.starts_with("a=fingerprint:")).map(|l| l.to_ascii_lowercase())
}

impl Session {
    /// Answers a viewer's offer. `local` are the host's addresses to offer as ICE candidates
    /// (the host is a full ICE agent: it checks the viewer's addresses as the viewer checks
    /// its own; more come with [`Session::add_local_candidate`]). Returns the session and the
    /// answer SDP to send back.
    pub fn accept_offer(
        offer: &str,
        local: &[SocketAddr],
        now: Instant,
        config: &SessionConfig,
    ) -> Result<(Self, String), SessionError> {
        crate::init_crypto();
        let video_mids = media_mids(offer, "video");
        let audio_mids = media_mids(offer, "audio");
        let offer_text = offer;
        let offer = SdpOffer::from_sdp_string(offer).map_err(|e| SessionError::BadOffer(e.to_string()))?;
        let codecs: &[VideoCodec] =
            if config.video_codecs.is_empty() { &[VideoCodec::H264] } else { &config.video_codecs };
        let av1 = codecs.contains(&VideoCodec::Av1);
        let mut rtc = Rtc::builder()
            // Full ICE: the host checks the viewer's addresses too, which opens its own NAT's
            // way in, and it can use relayed and server-reflexive candidates.
            .set_ice_lite(false)
            .clear_codecs()
            .enable_h264(codecs.contains(&VideoCodec::H264))
            .enable_av1(av1)
            .enable_opus(config.audio, false)
            .set_extension(PLAYOUT_DELAY_EXT_ID, Extension::PlayoutDelay)
            .enable_bwe(config.bandwidth.map(|b| Bitrate::bps(b.start_bps)))
            .set_stats_interval(Some(STATS_INTERVAL))
            .build(now);
        if let Some(b) = config.bandwidth {
            rtc.bwe().set_bitrate(Bitrate::ZERO, Bitrate::bps(b.desired_bps));
        }
        for &addr in local {
            let c = Candidate::host(addr, "udp").map_err(|_| SessionError::BadCandidate(addr))?;
            rtc.add_local_candidate(c);
        }
        let answer = rtc.sdp_api().accept_offer(offer)?;
        let mut session = Self {
            rtc,
            video: None,
            video_codec: VideoCodec::H264,
            audio: None,
            // The extension counts in 10 ms steps up to 40.95 s.
            max_playout_delay: MediaTime::from_millis(
                (config.max_playout_delay.as_millis().min(40_950) as u64) / 10 * 10,
            ),
            offered_video: false,
            start: now,
            last_rtp: None,
            now,
            timeout: now,
            throttle: KeyframeThrottle::new(config.keyframe_interval),
            awaiting_keyframe: true,
            connected: false,
            closed: false,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            counters: SessionCounters::default(),
            control: None,
            network: NetworkStats::default(),
            redundancy: Redundancy::new(config.redundancy),
            check: EstimateCheck::default(),
            rtt_at: None,
            sent: VecDeque::new(),
            pending: None,
            fingerprint: fingerprint_line(offer_text),
        };
        // str0m announces media (Event::MediaAdded) only once connected; the writer exists now.
        'mids: for mid in &video_mids {
            session.offered_video = true;
            let mid = Mid::from(mid.as_str());
            for &codec in codecs {
                let pt = session.rtc.writer(mid).and_then(|w| match codec {
                    VideoCodec::H264 => pick_h264(w.payload_params()),
                    VideoCodec::Av1 => pick_av1(w.payload_params()),
                });
                if let Some(pt) = pt {
                    session.video = Some((mid, pt));
                    session.video_codec = codec;
                    break 'mids;
                }
            }
        }
        // Sound is optional: a page that offers no audio (or no Opus) gets video only.
        for mid in &audio_mids {
            let mid = Mid::from(mid.as_str());
            let pt = session
                .rtc
                .writer(mid)
                .and_then(|w| w.payload_params().find(|p| p.spec().codec == Codec::Opus).map(|p| p.pt()));
            if let Some(pt) = pt {
                session.audio = Some((mid, pt));
                break;
            }
        }
        session.drain(now)?;
        if session.video.is_none() {
            return Err(if session.offered_video {
                SessionError::NoH264(av1)
            } else {
                SessionError::NoVideo
            });
        }
        let answer = answer.to_sdp_string();
        // The browser synchronises audio and video only within one media stream: name one.
        let answer = one_stream(&answer);
        Ok((session, answer))
    }

    /// A datagram arrived from `source` on the local address `destination`.
    pub fn handle_receive(
        &mut self,
        now: Instant,
        source: SocketAddr,
        destination: SocketAddr,
        bytes: &[u8],
    ) -> Result<(), SessionError> {
        let Ok(contents) = bytes.try_into() else {
            debug!("dropping a datagram that is not STUN, DTLS or RTP");
            return Ok(());
        };
        let input = Input::Receive(now, Receive { proto: Protocol::Udp, source, destination, contents });
        if !self.rtc.accepts(&input) {
            debug!("dropping a datagram not for this session");
            return Ok(());
        }
        self.rtc.handle_input(input)?;
        self.drain(now)
    }

    /// Time passed; call at [`poll_timeout`](Self::poll_timeout) at the latest.
    pub fn handle_timeout(&mut self, now: Instant) -> Result<(), SessionError> {
        self.rtc.handle_input(Input::Timeout(now))?;
        self.drain(now)
    }

    /// A trickled candidate from the viewer (`candidate:...`); its address, to let it reach
    /// our relay. Bad ones (mDNS names and the like) are ignored: the viewer's own checks
    /// teach us its address anyway.
    pub fn add_remote_candidate(
        &mut self,
        now: Instant,
        candidate: &str,
    ) -> Result<Option<SocketAddr>, SessionError> {
        let line = candidate.strip_prefix("a=").unwrap_or(candidate);
        match Candidate::from_sdp_string(line) {
            Ok(c) => {
                let addr = c.addr();
                self.rtc.add_remote_candidate(c);
                self.drain(now)?;
                Ok(Some(addr))
            }
            Err(e) => {
                debug!("ignoring a candidate the viewer sent: {e}");
                Ok(None)
            }
        }
    }

    /// Restarts ICE (the host's network changed): new credentials, `new_local` added as host
    /// candidates; DTLS, the media and the data channels go on. The offer to send the viewer;
    /// its answer goes to [`Session::accept_answer`].
    pub fn restart_ice(&mut self, now: Instant, new_local: &[SocketAddr]) -> Result<String, SessionError> {
        for &addr in new_local {
            let c = Candidate::host(addr, "udp").map_err(|_| SessionError::BadCandidate(addr))?;
            self.rtc.add_local_candidate(c);
        }
        let mut api = self.rtc.sdp_api();
        api.ice_restart(true);
        let (offer, pending) = api.apply().ok_or(SessionError::UnexpectedAnswer)?;
        self.pending = Some(pending);
        self.drain(now)?;
        Ok(offer.to_sdp_string())
    }

    /// The viewer's ICE restart (its network changed): its new offer for this session, which
    /// must keep its DTLS fingerprint. Our answer to send back.
    pub fn accept_restart(&mut self, now: Instant, offer: &str) -> Result<String, SessionError> {
        if fingerprint_line(offer) != self.fingerprint {
            return Err(SessionError::FingerprintChanged);
        }
        let offer = SdpOffer::from_sdp_string(offer).map_err(|e| SessionError::BadOffer(e.to_string()))?;
        self.pending = None;
        let answer = self.rtc.sdp_api().accept_offer(offer)?;
        self.drain(now)?;
        Ok(answer.to_sdp_string())
    }

    /// The viewer's answer to our ICE restart.
    pub fn accept_answer(&mut self, now: Instant, sdp: &str) -> Result<(), SessionError> {
        let pending = self.pending.take().ok_or(SessionError::UnexpectedAnswer)?;
        let answer = SdpAnswer::from_sdp_string(sdp).map_err(|e| SessionError::BadAnswer(e.to_string()))?;
        self.rtc.sdp_api().accept_answer(pending, answer)?;
        self.drain(now)
    }

    /// Adds a candidate gathered after the answer: `addr` as a STUN server saw the socket
    /// `base`, or (`relayed`) an address on a TURN server talking to us from `base`. The
    /// `candidate:` line to trickle to the viewer, or `None` when it adds nothing.
    pub fn add_local_candidate(
        &mut self,
        addr: SocketAddr,
        base: SocketAddr,
        relayed: bool,
    ) -> Option<String> {
        let c = if relayed {
            Candidate::relayed(addr, base, "udp")
        } else {
            Candidate::builder().udp().server_reflexive(addr, base).build()
        };
        let c = c.map_err(|e| debug!("not a usable candidate {addr}: {e}")).ok()?;
        let added = self.rtc.add_local_candidate(c)?;
        let line = added.to_sdp_string();
        Some(line.strip_prefix("a=").unwrap_or(&line).to_owned())
    }

    /// Sends one video frame. Until the viewer has a keyframe, other frames are skipped (they
    /// could not be decoded). Returns whether the frame was sent.
    pub fn send_video(&mut self, now: Instant, frame: &VideoFrame) -> Result<bool, SessionError> {
        let Some((mid, pt)) = self.video else {
            return Ok(false);
        };
        if !self.connected || self.closed {
            return Ok(false);
        }
        if self.awaiting_keyframe && !frame.keyframe {
            self.counters.frames_skipped += 1;
            return Ok(false);
        }
        let ticks = rtp_ticks(frame.captured_at.saturating_duration_since(self.start));
        // Never repeat or go back: the browser would take it for the same or an old frame.
        let ticks = match self.last_rtp {
            Some(last) if ticks <= last => last + 1,
            _ => ticks,
        };
        self.last_rtp = Some(ticks);
        let Some(writer) = self.rtc.writer(mid) else {
            return Ok(false);
        };
        writer.playout_delay(MediaTime::ZERO, self.max_playout_delay).write(
            pt,
            frame.captured_at,
            MediaTime::from_90khz(ticks),
            frame.data.clone(),
        )?;
        self.counters.frames_sent += 1;
        self.sent.push_back((now, frame.data.len()));
        while self
            .sent
            .front()
            .is_some_and(|(t, _)| now.saturating_duration_since(*t) > Duration::from_secs(1))
        {
            self.sent.pop_front();
        }
        if frame.keyframe {
            self.counters.keyframes_sent += 1;
            self.awaiting_keyframe = false;
            self.throttle.keyframe_sent(now);
        }
        self.drain(now)?;
        Ok(true)
    }

    /// Sends one audio frame. Returns whether it was sent (not before the connection is up, nor
    /// when the page offered no audio).
    pub fn send_audio(&mut self, now: Instant, frame: &AudioFrame) -> Result<bool, SessionError> {
        let Some((mid, pt)) = self.audio else {
            return Ok(false);
        };
        if !self.connected || self.closed {
            return Ok(false);
        }
        let Some(writer) = self.rtc.writer(mid) else {
            return Ok(false);
        };
        writer.write(
            pt,
            frame.captured_at,
            MediaTime::new(frame.rtp, Frequency::FORTY_EIGHT_KHZ),
            frame.data.clone(),
        )?;
        self.counters.audio_sent += 1;
        self.drain(now)?;
        Ok(true)
    }

    /// The video codec this viewer gets.
    pub fn video_codec(&self) -> VideoCodec {
        self.video_codec
    }

    /// Whether the page takes sound.
    pub fn has_audio(&self) -> bool {
        self.audio.is_some()
    }

    /// The viewer missed frames (the host could not keep up with it): hold further frames until
    /// a keyframe and ask for one.
    pub fn resync(&mut self, now: Instant) {
        self.awaiting_keyframe = true;
        self.throttle.request(now);
        if self.connected && self.throttle.poll(now) {
            self.events.push_back(SessionEvent::KeyframeNeeded);
        }
    }

    /// Sends a control message (JSON text) to the page. Returns false when the channel is not
    /// open yet or its buffer is full (the caller sends the latest state again later).
    pub fn send_control(&mut self, now: Instant, text: &str) -> Result<bool, SessionError> {
        let Some(id) = self.control else { return Ok(false) };
        let Some(mut ch) = self.rtc.channel(id) else { return Ok(false) };
        let sent = ch.write(false, text.as_bytes())?;
        self.drain(now)?;
        Ok(sent)
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next event for the host.
    pub fn poll_event(&mut self) -> Option<SessionEvent> {
        self.events.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) is due.
    pub fn poll_timeout(&self) -> Instant {
        match self.throttle.poll_timeout(self.now) {
            Some(t) => t.min(self.timeout),
            None => self.timeout,
        }
    }

    /// Whether the session still runs.
    pub fn is_alive(&self) -> bool {
        !self.closed && self.rtc.is_alive()
    }

    /// Whether ICE and DTLS are up.
    pub fn is_connected(&self) -> bool {
        self.connected
    }

    /// The session's counters.
    pub fn counters(&self) -> &SessionCounters {
        &self.counters
    }

    /// A queue the viewer's page measured on the path (its `path` message): evidence that a
    /// drop in the estimate is the path's.
    pub fn page_queue(&mut self, now: Instant, over: Duration) {
        self.check.page_queue(now, over);
    }

    /// What the session knows of the network path (updated about once a second).
    pub fn network(&self) -> &NetworkStats {
        &self.network
    }

    /// Ends the session.
    pub fn close(&mut self) {
        self.rtc.disconnect();
        self.closed = true;
    }

    /// Drains str0m's output until its next timeout (str0m requires this after every mutation).
    fn drain(&mut self, now: Instant) -> Result<(), SessionError> {
        self.now = now;
        // Copies go after the packets of this turn (a frame's, usually), not each beside its
        // original: a short burst of loss then takes different packets' two copies.
        let mut copies = Vec::new();
        // str0m's pacer hands out one packet a turn and asks for the next turn a microsecond
        // later (a timeout at `now` + 1 µs). Waiting for a timer to give it that turn costs a
        // timer tick (a millisecond in tokio) per packet: a frame of ten packets would leave
        // over 10 ms however much room the pacer has. Those turns are taken here, at once, as
        // long as each one sends something; a real pacing wait (the pacer's debt) is longer.
        let mut turns = 0;
        let mut progressed = true;
        loop {
            match self.rtc.poll_output()? {
                Output::Timeout(t) => {
                    if progressed && turns < MAX_TURNS && t <= now + PACER_TURN {
                        turns += 1;
                        progressed = false;
                        self.rtc.handle_input(Input::Timeout(now))?;
                        continue;
                    }
                    self.timeout = t;
                    break;
                }
                Output::Transmit(t) => {
                    progressed = true;
                    let transmit = Transmit {
                        source: t.source,
                        destination: t.destination,
                        contents: t.contents.to_vec(),
                    };
                    if self.redundancy.is_on() && is_rtp(&transmit.contents) {
                        copies.push(transmit.clone());
                    }
                    self.transmits.push_back(transmit);
                }
                Output::Event(e) => self.on_event(now, e),
            }
        }
        self.counters.copies_sent += copies.len() as u64;
        self.transmits.extend(copies);
        if self.connected && self.throttle.poll(now) {
            self.events.push_back(SessionEvent::KeyframeNeeded);
        }
        Ok(())
    }

    fn on_event(&mut self, now: Instant, e: Event) {
        match e {
            Event::Connected => {
                self.connected = true;
                self.awaiting_keyframe = true;
                self.throttle.request(now);
                self.events.push_back(SessionEvent::Connected);
            }
            Event::IceConnectionStateChange(IceConnectionState::Disconnected) if !self.closed => {
                self.closed = true;
                self.events.push_back(SessionEvent::Disconnected);
            }
            Event::KeyframeRequest(r) => {
                debug!(kind = ?r.kind, "viewer asked for a keyframe");
                self.throttle.request(now);
            }
            Event::ChannelData(d) => {
                if !d.binary {
                    match ViewerMessage::decode(&d.data) {
                        Ok(m) => self.events.push_back(SessionEvent::Message(m)),
                        Err(err) => {
                            self.counters.bad_input += 1;
                            self.events.push_back(SessionEvent::BadMessage(err));
                        }
                    }
                    return;
                }
                match InputEvent::decode(&d.data) {
                    Ok(ev) => {
                        self.counters.input_events += 1;
                        self.events.push_back(SessionEvent::Input(ev));
                    }
                    Err(err) => {
                        self.counters.bad_input += 1;
                        self.events.push_back(SessionEvent::BadInput(err));
                    }
                }
            }
            Event::EgressBitrateEstimate(BweKind::Twcc { estimate, .. }) => {
                let estimate = estimate.as_u64();
                let sent = self
                    .sent
                    .iter()
                    .filter(|(t, _)| now.saturating_duration_since(*t) <= Duration::from_secs(1))
                    .map(|(_, b)| *b as u64 * 8)
                    .sum();
                let restart = self.check.estimate(now, estimate, sent);
                self.network.estimate_bps = Some(restart.unwrap_or(estimate));
                if let Some(from) = restart {
                    info!(
                        "the bandwidth estimate fell to {:.2} Mb/s but the path shows no queue (round trip {} over its least, loss {:.1}%): a busy CPU, not congestion; estimating again from {:.2} Mb/s",
                        estimate as f64 / 1e6,
                        self.check
                            .queue_delay()
                            .map_or("not yet measured".into(), |q| format!("{} ms", q.as_millis())),
                        self.network.loss * 100.0,
                        from as f64 / 1e6,
                    );
                    self.rtc.bwe().reset(Bitrate::bps(from));
                }
                self.network.verdict = self.check.verdict();
                self.network.estimate_resets = self.check.resets();
            }
            Event::PeerStats(p) => {
                if let Some(reported) = p.egress_loss_fraction {
                    let was = self.redundancy.is_on();
                    self.network.loss = self.redundancy.report(now, f64::from(reported)) as f32;
                    self.check.loss(now, f64::from(self.network.loss));
                    self.network.redundant = self.redundancy.is_on();
                    if self.network.redundant != was {
                        debug!(
                            loss = self.network.loss,
                            "{} packets twice",
                            if self.network.redundant {
                                "loss on the path: sending"
                            } else {
                                "no more loss: stop sending"
                            }
                        );
                    }
                }
                self.network.rtt = p.rtt.or(self.network.rtt);
            }
            Event::MediaEgressStats(m) if self.video.is_some_and(|(mid, _)| mid == m.mid) => {
                // The receiver reports' round trip: the network's alone (the feedback's own
                // delay is taken out), what tells a queue building from random loss.
                if m.rtt.is_none()
                    && self.rtt_at.is_some_and(|at| now.saturating_duration_since(at) >= RTT_STALE)
                {
                    // No report for a while (a full queue drops them too): the last queue
                    // figure says nothing of the path now.
                    self.network.queue_delay = None;
                }
                if let Some(rtt) = m.rtt {
                    self.rtt_at = Some(now);
                    self.check.round_trip(now, rtt);
                    self.network.queue_delay = self.check.queue_delay();
                    let was = self.redundancy.is_on();
                    self.redundancy.round_trip(now, rtt);
                    if was && !self.redundancy.is_on() {
                        debug!(
                            ?rtt,
                            "the round trip grows (a queue on the path): stop sending packets twice"
                        );
                        self.network.redundant = false;
                    }
                }
                self.network.nacks = m.nacks;
                self.network.plis = m.plis;
                self.network.firs = m.firs;
                self.network.rtt = m.rtt.or(self.network.rtt);
            }
            Event::ChannelOpen(id, label) => {
                debug!(%label, "data channel open");
                if label == CONTROL_CHANNEL && self.control.is_none() {
                    self.control = Some(id);
                    self.events.push_back(SessionEvent::ControlReady);
                }
            }
            _ => {}
        }
    }
}

/// The `a=mid` of every `m=KIND` section (`video`, `audio`) of an SDP.
fn media_mids(sdp: &str, kind: &str) -> Vec<String> {
    let mut mids = Vec::new();
    let mut in_kind = false;
    for line in sdp.lines() {
        let line = line.trim_end();
        if let Some(m) = line.strip_prefix("m=") {
            in_kind = m.strip_prefix(kind).is_some_and(|rest| rest.starts_with(' '));
        } else if let Some(mid) = line.strip_prefix("a=mid:")
            && in_kind
            && !mid.is_empty()
            && mid.len() <= 32
        {
            mids.push(mid.to_owned());
        }
    }
    mids
}

/// Rewrites our answer so every `msid` names the stream id of the first one: str0m gives each
/// m-line a random stream of its own when the offer (recvonly) names none, and a browser
/// synchronises audio with video only inside one stream.
fn one_stream(sdp: &str) -> String {
    let stream_of = |line: &str| -> Option<(usize, usize)> {
        // `a=msid:STREAM TRACK` or `a=ssrc:N msid:STREAM TRACK`: the span of STREAM.
        let start = line.find("msid:")? + "msid:".len();
        let len = line[start..].find(' ')?;
        Some((start, start + len))
    };
    let Some(stream) = sdp.lines().find_map(|l| stream_of(l).map(|(a, b)| l[a..b].to_owned())) else {
        return sdp.to_owned();
    };
    let mut out = String::with_capacity(sdp.len());
    for line in sdp.split_inclusive('\n') {
        let is_msid = line.starts_with("a=msid:") || (line.starts_with("a=ssrc:") && line.contains(" msid:"));
        match stream_of(line) {
            Some((a, b)) if is_msid => {
                out.push_str(&line[..a]);
                out.push_str(&stream);
                out.push_str(&line[b..]);
            }
            _ => out.push_str(line),
        }
    }
    out
}

fn rtp_ticks(d: Duration) -> u64 {
    (d.as_micros() * 9 / 100) as u64
}

/// Picks H.264 with packetization-mode=1, preferring Constrained Baseline (42e01f, 42001f).
fn pick_h264<'a>(params: impl Iterator<Item = &'a str0m::format::PayloadParams>) -> Option<Pt> {
    let mut best: Option<(u8, Pt)> = None;
    for p in params {
        let spec = p.spec();
        if spec.codec != Codec::H264 || spec.format.packetization_mode != Some(1) {
            continue;
        }
        let rank = match spec.format.profile_level_id {
            Some(0x42e01f) => 0,
            Some(0x42001f) => 1,
            Some(id) if id >> 16 == 0x42 => 2,
            _ => 3,
        };
        if best.is_none_or(|(r, _)| rank < r) {
            best = Some((rank, p.pt()));
        }
    }
    if best.is_none() {
        debug!("viewer offered video without H.264 packetization-mode=1");
    }
    best.map(|(_, pt)| pt)
}

/// Picks AV1 of profile 0 (main: 8 and 10 bit 4:2:0), or of no profile named (which means 0).
fn pick_av1<'a>(mut params: impl Iterator<Item = &'a str0m::format::PayloadParams>) -> Option<Pt> {
    params
        .find(|p| p.spec().codec == Codec::Av1 && p.spec().format.profile.is_none_or(|profile| profile == 0))
        .map(|p| p.pt())
}
