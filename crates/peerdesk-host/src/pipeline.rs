//! Capture and encode threads. Capture puts each picture in a latest-wins slot; encode takes the
//! newest one, encodes it once and broadcasts it to every session. Nothing is captured or
//! encoded while nobody watches.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use peerdesk_capture::{Capturer, Frame, LatestSlot};
use peerdesk_encode::{Backend, Codec, Encoder};
use peerdesk_session::VideoFrame;
use tokio::sync::broadcast;
use tracing::{debug, error, info, warn};

use peerdesk_proto::{PeerId, StreamRequest};
use tokio::sync::watch;

use crate::rate::{HostTimes, Limit, NetworkReport, NetworkReports, RateDecision, RateLimits, RatePolicy};

/// How long a thread waits before re-checking whether it should stop.
const POLL: Duration = Duration::from_millis(100);
/// How long a keyframe request waits for a fresh frame before the last one is re-encoded.
const KEYFRAME_WAIT: Duration = Duration::from_millis(20);
/// Encoded frames a slow session may fall behind before it must resynchronise on a keyframe.
const FRAME_BACKLOG: usize = 16;
/// How often rate control looks at the viewers' network reports.
const RATE_EVERY: Duration = Duration::from_millis(100);
/// A frame this much early for a lowered frame rate is still taken (capture jitter).
const FRAME_GATE_SLACK: Duration = Duration::from_millis(3);

/// Per-stage timings and counts since the last [`PipelineStats::take`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StageWindow {
    /// Frames encoded and sent.
    pub frames: u64,
    /// Of which keyframes.
    pub keyframes: u64,
    /// Encoded bytes.
    pub bytes: u64,
    /// The largest encoded frame, bytes.
    pub largest: u64,
    /// Sum of capture times.
    pub capture: Duration,
    /// Sum of BGRA to I420 conversion times.
    pub convert: Duration,
    /// Sum of encode times.
    pub encode: Duration,
    /// Longest encode time.
    pub encode_max: Duration,
    /// Capture + convert + encode of each frame, in microseconds.
    pub totals_us: Vec<u32>,
    /// When this window began.
    pub since: Option<Instant>,
    /// Rate control's latest decision, and the (worst) network report it was made from.
    pub rate: Option<(RateDecision, NetworkReport)>,
    /// Why that decision holds the stream below what the user asked for, in words.
    pub why: Option<String>,
}

impl StageWindow {
    /// The `p`th percentile (0-100) of capture + convert + encode per frame.
    pub fn total_percentile(&self, p: u32) -> Duration {
        let mut v = self.totals_us.clone();
        if v.is_empty() {
            return Duration::ZERO;
        }
        v.sort_unstable();
        let i = ((v.len() - 1) * p.min(100) as usize) / 100;
        Duration::from_micros(u64::from(v[i]))
    }

    /// Adds a later window's counts to this one (keeping this one's start).
    pub fn merge(&mut self, later: StageWindow) {
        self.frames += later.frames;
        self.keyframes += later.keyframes;
        self.bytes += later.bytes;
        self.largest = self.largest.max(later.largest);
        self.capture += later.capture;
        self.convert += later.convert;
        self.encode += later.encode;
        self.encode_max = self.encode_max.max(later.encode_max);
        self.totals_us.extend(later.totals_us);
        self.since = self.since.or(later.since);
        if later.rate.is_some() {
            self.rate = later.rate;
            self.why = later.why;
        }
    }

    /// Average of a summed duration over the window's frames.
    pub fn average(&self, sum: Duration) -> Duration {
        if self.frames == 0 { Duration::ZERO } else { sum / self.frames as u32 }
    }
}

/// Counters the pipeline threads update and the status line reads.
#[derive(Debug, Default)]
pub struct PipelineStats {
    window: Mutex<StageWindow>,
}

impl PipelineStats {
    fn record(&self, frame: &peerdesk_encode::EncodedFrame) {
        let mut w = self.window.lock().unwrap_or_else(|p| p.into_inner());
        w.since.get_or_insert_with(Instant::now);
        w.frames += 1;
        w.keyframes += u64::from(frame.keyframe);
        w.bytes += frame.data.len() as u64;
        w.largest = w.largest.max(frame.data.len() as u64);
        w.capture += frame.capture_time;
        w.convert += frame.convert_time;
        w.encode += frame.encode_time;
        w.encode_max = w.encode_max.max(frame.encode_time);
        let total = frame.capture_time + frame.convert_time + frame.encode_time;
        w.totals_us.push(u32::try_from(total.as_micros()).unwrap_or(u32::MAX));
    }

    fn record_rate(&self, decision: RateDecision, report: NetworkReport, why: Option<&str>) {
        let mut w = self.window.lock().unwrap_or_else(|p| p.into_inner());
        w.rate = Some((decision, report));
        if w.why.as_deref() != why {
            w.why = why.map(str::to_owned);
        }
    }

    /// Returns the window so far and starts a new one (which keeps the rate decision in force).
    pub fn take(&self) -> StageWindow {
        let mut w = self.window.lock().unwrap_or_else(|p| p.into_inner());
        let out = std::mem::take(&mut *w);
        w.since = Some(Instant::now());
        w.rate = out.rate;
        w.why.clone_from(&out.why);
        out
    }
}

/// The host's own bounds on the stream, and whether rate control runs.
#[derive(Clone, Debug, PartialEq)]
pub struct StreamSetup {
    /// Frame rate (`--fps`): the most a viewer gets.
    pub fps: u32,
    /// Bitrate (`--bitrate`): the most a viewer gets.
    pub max_bps: u32,
    /// Largest width and height (`--width/--height`); `None` on a side: no bound.
    pub max_size: (Option<u32>, Option<u32>),
    /// Rate control's least bitrate; `None`: no rate control (`--fixed-bitrate`).
    pub rate_min_bps: Option<u32>,
}

/// What the stream is: its full size and what the controller asked of it. Viewer tasks watch it
/// to tell their pages; the encode thread applies the request.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StreamState {
    /// The full size of the stream (the source fitted into `--width/--height`); zero before
    /// the first frame.
    pub full: (u32, u32),
    /// The host's frame rate and bitrate.
    pub max_fps: u32,
    /// The most bitrate.
    pub max_bps: u32,
    /// The request in force, and who made it.
    pub request: Option<(PeerId, StreamRequest)>,
    /// Why the source shows nothing new for now (it comes back by itself); `None` while live.
    pub away: Option<String>,
}

/// One codec's encoder and the viewers who take it: the encode thread encodes each frame once
/// per codec that someone watches in.
#[derive(Debug)]
struct Lane {
    codec: Codec,
    backend: Backend,
    frames: broadcast::Sender<VideoFrame>,
    keyframe: AtomicBool,
    viewers: Arc<AtomicUsize>,
}

/// The running capture and encode threads.
#[derive(Debug)]
pub struct Pipeline {
    lanes: Arc<Vec<Lane>>,
    viewers: Arc<AtomicUsize>,
    stats: Arc<PipelineStats>,
    stop: Arc<AtomicBool>,
    slot: Arc<LatestSlot<Frame>>,
    threads: Vec<JoinHandle<()>>,
    failure: Arc<Failure>,
    network: Arc<NetworkReports>,
    state: Arc<watch::Sender<StreamState>>,
}

/// Why the capture thread stopped, for whoever waits on it.
#[derive(Debug, Default)]
struct Failure {
    why: Mutex<Option<String>>,
    notify: tokio::sync::Notify,
}

impl Pipeline {
    /// The encoder of each codec, in the order they were given (H.264 first).
    pub fn encoders(&self) -> Vec<(Codec, Backend)> {
        self.lanes.iter().map(|l| (l.codec, l.backend)).collect()
    }

    /// The codecs this pipeline makes.
    pub fn codecs(&self) -> Vec<Codec> {
        self.lanes.iter().map(|l| l.codec).collect()
    }

    /// The encoders that have viewers now, by name ("x264", "x264+aom"); the first codec's
    /// while nobody watches.
    pub fn encoders_in_use(&self) -> String {
        let names: Vec<&str> = self
            .lanes
            .iter()
            .filter(|l| l.viewers.load(Ordering::Acquire) > 0)
            .map(|l| l.backend.name())
            .collect();
        if names.is_empty() { self.lanes[0].backend.name().to_owned() } else { names.join("+") }
    }

    /// The encoder in use for `codec`.
    pub fn encoder(&self, codec: Codec) -> Option<Backend> {
        self.lane(codec).map(|l| l.backend)
    }

    fn lane(&self, codec: Codec) -> Option<&Lane> {
        self.lanes.iter().find(|l| l.codec == codec)
    }

    /// Starts capturing from `capturer` and encoding with `encoder`, within `setup`'s bounds.
    /// See [`Pipeline::start_codecs`].
    pub fn start(
        capturer: Box<dyn Capturer>,
        encoder: Box<dyn Encoder>,
        setup: StreamSetup,
    ) -> std::io::Result<Self> {
        Self::start_codecs(capturer, vec![encoder], setup)
    }

    /// Starts capturing from `capturer` and encoding with `encoders` (one per codec; a later one
    /// of a codec already given is left out), within `setup`'s bounds. Each frame is encoded
    /// once by each encoder that has a viewer. With rate control, the viewers' network reports
    /// steer the encoders' bitrate, frame rate and size within them; the controller's request
    /// ([`Pipeline::request`]) bounds them further.
    pub fn start_codecs(
        mut capturer: Box<dyn Capturer>,
        encoders: Vec<Box<dyn Encoder>>,
        setup: StreamSetup,
    ) -> std::io::Result<Self> {
        let mut encoders = encoders.into_iter().fold(Vec::<Box<dyn Encoder>>::new(), |mut kept, e| {
            if !kept.iter().any(|k| k.codec() == e.codec()) {
                kept.push(e);
            }
            kept
        });
        if encoders.is_empty() {
            return Err(std::io::Error::other("a pipeline needs an encoder"));
        }
        let lanes: Arc<Vec<Lane>> = Arc::new(
            encoders
                .iter()
                .map(|e| Lane {
                    codec: e.codec(),
                    backend: e.backend(),
                    frames: broadcast::channel(FRAME_BACKLOG).0,
                    keyframe: AtomicBool::new(true),
                    viewers: Arc::new(AtomicUsize::new(0)),
                })
                .collect(),
        );
        let viewers = Arc::new(AtomicUsize::new(0));
        let stats = Arc::new(PipelineStats::default());
        let stop = Arc::new(AtomicBool::new(false));
        let slot = Arc::new(LatestSlot::new());
        let failure = Arc::new(Failure::default());
        let network = Arc::new(NetworkReports::default());
        let state = Arc::new(watch::Sender::new(StreamState {
            full: (0, 0),
            max_fps: setup.fps,
            max_bps: setup.max_bps,
            request: None,
            away: None,
        }));

        let capture = {
            let (stop, slot, viewers, failure, state) =
                (stop.clone(), slot.clone(), viewers.clone(), failure.clone(), state.clone());
            std::thread::Builder::new().name("peerdesk-capture".into()).spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let away = capturer.away();
                    state.send_if_modified(|s| {
                        let changed = s.away != away;
                        s.away.clone_from(&away);
                        changed
                    });
                    if viewers.load(Ordering::Relaxed) == 0 {
                        // Nobody watches: idle, checking now and then.
                        std::thread::park_timeout(POLL);
                        continue;
                    }
                    match capturer.next_frame(Instant::now() + POLL) {
                        Ok(Some(frame)) => slot.put(frame),
                        Ok(None) => {}
                        Err(e) => {
                            error!("capture stopped: {e}");
                            *failure.why.lock().unwrap_or_else(|p| p.into_inner()) = Some(e.to_string());
                            failure.notify.notify_one();
                            break;
                        }
                    }
                }
                slot.close();
            })?
        };
        let encode = {
            let (stop, slot, lanes, stats, network) =
                (stop.clone(), slot.clone(), lanes.clone(), stats.clone(), network.clone());
            let mut shaper = Shaper::new(setup, state.clone());
            std::thread::Builder::new().name("peerdesk-encode".into()).spawn(move || {
                // What each encoder was last told: bitrate, frame rate, scale.
                let mut applied: Vec<Option<(u32, u32, f64)>> = vec![None; encoders.len()];
                let keyframe_pending = || lanes.iter().any(|l| l.keyframe.load(Ordering::Acquire));
                // The last picture, so a keyframe request on an idle screen (no new frames)
                // is answered at once instead of waiting for the screen to change.
                let mut last: Option<Frame> = None;
                // Capture time of the last frame encoded, for a lowered frame rate.
                let mut last_encoded: Option<Instant> = None;
                loop {
                    let wait = if keyframe_pending() && last.is_some() { KEYFRAME_WAIT } else { POLL };
                    let frame = match slot.take(wait) {
                        Some(f) => f,
                        None if stop.load(Ordering::Relaxed) || slot.is_closed() => break,
                        None if keyframe_pending() => match last.take() {
                            Some(mut f) => {
                                f.captured_at = Instant::now();
                                f
                            }
                            None => continue,
                        },
                        None => continue,
                    };
                    let want = shaper.tick(&frame, &network, &stats);
                    // A frame rate lowered by rate control or the viewer: leave out frames that
                    // come too soon after the last (at full rate the source's own limit is the
                    // only one).
                    let lowered = shaper.lowered_fps();
                    if let Some(fps) = lowered
                        && !keyframe_pending()
                        && last_encoded.is_some_and(|t| {
                            let interval = Duration::from_secs(1) / fps.max(1);
                            frame.captured_at + FRAME_GATE_SLACK < t + interval && frame.captured_at > t
                        })
                    {
                        last = Some(frame);
                        continue;
                    }
                    // The first codec's frame stands for the stage times and sizes, with the
                    // encode time of every codec encoded added (the host's cost of the frame).
                    let mut first: Option<peerdesk_encode::EncodedFrame> = None;
                    let mut other_encode = Duration::ZERO;
                    for (i, (lane, encoder)) in lanes.iter().zip(encoders.iter_mut()).enumerate() {
                        if lane.viewers.load(Ordering::Acquire) == 0 {
                            continue;
                        }
                        if applied[i] != Some(want) {
                            applied[i] = Some(want);
                            if let Err(e) = encoder.set_rate(want.0, want.1, want.2) {
                                warn!("cannot change the {} encoder's rate: {e}", lane.codec);
                            }
                        }
                        let force = lane.keyframe.swap(false, Ordering::AcqRel);
                        match encoder.encode(&frame, force) {
                            Ok(Some(e)) => {
                                let video = VideoFrame {
                                    data: Arc::from(e.data.as_slice()),
                                    keyframe: e.keyframe,
                                    captured_at: e.captured_at,
                                };
                                // No receivers is fine: the last viewer just left.
                                let _ = lane.frames.send(video);
                                if first.is_none() {
                                    first = Some(e);
                                } else {
                                    other_encode += e.convert_time + e.encode_time;
                                }
                            }
                            Ok(None) => {
                                if force {
                                    lane.keyframe.store(true, Ordering::Release);
                                }
                            }
                            Err(e) => {
                                warn!("dropping a frame the {} encoder refused: {e}", lane.codec);
                                lane.keyframe.store(true, Ordering::Release);
                            }
                        }
                    }
                    if let Some(mut e) = first {
                        e.encode_time += other_encode;
                        last_encoded = Some(e.captured_at);
                        shaper.encoded(
                            Instant::now(),
                            e.data.len(),
                            e.capture_time,
                            e.convert_time + e.encode_time,
                        );
                        stats.record(&e);
                    }
                    last = Some(frame);
                }
            })?
        };
        Ok(Self {
            lanes,
            viewers,
            stats,
            stop,
            slot,
            threads: vec![capture, encode],
            failure,
            network,
            state,
        })
    }

    /// The stream's full size and the request in force, kept up to date.
    pub fn state(&self) -> watch::Receiver<StreamState> {
        self.state.subscribe()
    }

    /// The controller `peer` asks this of the stream (it replaces any earlier request).
    pub fn request(&self, peer: PeerId, request: StreamRequest) {
        self.state.send_if_modified(|s| {
            let new = Some((peer, request));
            let changed = s.request != new;
            s.request = new;
            changed
        });
    }

    /// `peer` left or lost control: its request no longer holds.
    pub fn withdraw(&self, peer: PeerId) {
        self.state.send_if_modified(|s| {
            if s.request.is_some_and(|(p, _)| p == peer) {
                s.request = None;
                true
            } else {
                false
            }
        });
    }

    /// Where viewer tasks put their network reports for rate control.
    pub fn network(&self) -> &Arc<NetworkReports> {
        &self.network
    }

    /// Completes when capture has stopped for good, with the reason.
    pub async fn failed(&self) -> String {
        loop {
            if let Some(why) = self.failure.why.lock().unwrap_or_else(|p| p.into_inner()).clone() {
                return why;
            }
            self.failure.notify.notified().await;
        }
    }

    /// A receiver of every frame encoded in `codec` from now on (the first codec's when this
    /// pipeline makes no `codec`).
    pub fn subscribe(&self, codec: Codec) -> broadcast::Receiver<VideoFrame> {
        self.lane_or_first(codec).frames.subscribe()
    }

    /// Asks for the next frame in `codec` to be a keyframe.
    pub fn request_keyframe(&self, codec: Codec) {
        self.lane_or_first(codec).keyframe.store(true, Ordering::Release);
    }

    fn lane_or_first(&self, codec: Codec) -> &Lane {
        self.lane(codec).unwrap_or(&self.lanes[0])
    }

    /// Registers a viewer of `codec`; the pipeline runs while at least one is registered, and
    /// encodes in each codec that has one.
    pub fn add_viewer(&self, codec: Codec) -> ViewerCount {
        let lane = self.lane_or_first(codec);
        lane.viewers.fetch_add(1, Ordering::AcqRel);
        self.viewers.fetch_add(1, Ordering::AcqRel);
        if let Some(t) = self.threads.first() {
            t.thread().unpark();
        }
        ViewerCount(self.viewers.clone(), lane.viewers.clone())
    }

    /// How many viewers are registered.
    pub fn viewers(&self) -> usize {
        self.viewers.load(Ordering::Acquire)
    }

    /// The stage timings.
    pub fn stats(&self) -> &PipelineStats {
        &self.stats
    }

    /// Frames captured but replaced by a newer one before the encoder took them.
    pub fn frames_dropped(&self) -> u64 {
        self.slot.replaced()
    }
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.slot.close();
        for t in self.threads.drain(..) {
            t.thread().unpark();
            let _ = t.join();
        }
    }
}

/// The encode thread's say over the stream: the host's bounds, the controller's request and
/// rate control's decision, combined into the encoder's bitrate, frame rate and size.
struct Shaper {
    setup: StreamSetup,
    state: Arc<watch::Sender<StreamState>>,
    requests: watch::Receiver<StreamState>,
    request: StreamRequest,
    /// The full size of the stream, from the frames.
    full: (u32, u32),
    rate: Option<RateControl>,
    /// What the encoder was last told: bitrate, frame rate (the one frames are held to),
    /// scale.
    applied: Option<(u32, u32, f64)>,
}

impl Shaper {
    fn new(setup: StreamSetup, state: Arc<watch::Sender<StreamState>>) -> Self {
        let rate = setup.rate_min_bps.map(|min_bps| {
            RateControl::new(RateLimits { min_bps, max_bps: setup.max_bps, fps: setup.fps, pixels: 0 })
        });
        let requests = state.subscribe();
        Self { setup, state, requests, request: StreamRequest::default(), full: (0, 0), rate, applied: None }
    }

    /// The frame rate frames are left out for, when it is below the stream's own (never for the
    /// host's own speed: see `tick`).
    fn lowered_fps(&self) -> Option<u32> {
        self.applied.map(|(_, fps, _)| fps).filter(|&fps| fps < self.setup.fps)
    }

    fn encoded(&mut self, at: Instant, bytes: usize, capture: Duration, encode: Duration) {
        if let Some(rc) = self.rate.as_mut() {
            rc.encoded(at, bytes, capture, encode);
        }
    }

    /// The bitrate, frame rate and scale the encoders are to run at for this frame.
    fn tick(&mut self, frame: &Frame, network: &NetworkReports, stats: &PipelineStats) -> (u32, u32, f64) {
        let full = peerdesk_encode::scale::fit((frame.width, frame.height), self.setup.max_size);
        if full != self.full {
            self.full = full;
            self.state.send_if_modified(|s| {
                let changed = s.full != full;
                s.full = full;
                changed
            });
        }
        if self.requests.has_changed().unwrap_or(false) {
            let request = self.requests.borrow_and_update().request.map(|(_, r)| r).unwrap_or_default();
            if request != self.request {
                let or_host =
                    |v: Option<u32>, unit: &str| v.map_or("the host's".to_owned(), |v| format!("{v}{unit}"));
                info!(
                    "the controller asks for height {}, {} fps, {} kb/s",
                    or_host(request.height, " px"),
                    or_host(request.fps, ""),
                    or_host(request.max_kbps, "")
                );
                self.request = request;
            }
        }
        let fps_cap = self.request.fps.map_or(self.setup.fps, |f| f.clamp(1, self.setup.fps));
        let bps_cap = self
            .request
            .max_kbps
            .map_or(self.setup.max_bps, |k| k.saturating_mul(1000).min(self.setup.max_bps));
        // A smaller picture asked for: a fraction of the full size (never larger).
        let size = match self.request.height {
            Some(h) if full.1 > 0 => (f64::from(h) / f64::from(full.1)).min(1.0),
            _ => 1.0,
        };
        let pixels = (f64::from(full.0) * f64::from(full.1) * size * size) as u64;
        let (bps, fps, scale, limit, report) =
            match self.rate.as_mut().map(|rc| rc.tick(pixels, fps_cap, bps_cap, network)) {
                Some((d, report)) => (d.bitrate_bps, d.fps, d.scale, d.limit, report),
                None => (bps_cap, fps_cap, 1.0, Limit::None, NetworkReport::default()),
            };
        // The figures in force, for the stats message: the picture's whole scale, and the frame
        // rate the host manages when its own speed is the limit.
        let why = self.rate.as_ref().and_then(|rc| rc.policy.why());
        stats.record_rate(RateDecision { bitrate_bps: bps, fps, scale: scale * size, limit }, report, why);
        // A host too slow for the frame rate encodes what it can by itself (the newest frame
        // whenever the encoder is free): neither the gate nor the encoder hears of a lower rate
        // for it. A gate at 45 on a 60 Hz source lets every other frame through (30), and an
        // encoder told 45 while it gets 50 skips frames to hold its budget (both measured).
        let fps = match (limit, self.rate.as_ref()) {
            (Limit::Encoder, Some(rc)) => rc.policy.network_fps().min(fps_cap),
            _ => fps,
        };
        let want = (bps, fps, scale * size);
        self.applied = Some(want);
        want
    }
}

/// Rate control in the encode thread: the policy, fed the worst viewer's report every
/// [`RATE_EVERY`] and whenever it changes.
struct RateControl {
    policy: RatePolicy,
    next: Instant,
    last: Option<RateDecision>,
    /// The report the last decision was made from.
    report: NetworkReport,
    /// Sizes of the frames encoded in the last second, for the bitrate actually sent, with
    /// their capture and convert + encode times (microseconds), for the host's own speed.
    sent: std::collections::VecDeque<(Instant, usize, u32, u32)>,
}

impl RateControl {
    fn new(limits: RateLimits) -> Self {
        Self {
            policy: RatePolicy::new(limits),
            next: Instant::now(),
            last: None,
            report: NetworkReport::default(),
            sent: std::collections::VecDeque::new(),
        }
    }

    fn encoded(&mut self, at: Instant, bytes: usize, capture: Duration, encode: Duration) {
        let us = |d: Duration| u32::try_from(d.as_micros()).unwrap_or(u32::MAX);
        self.sent.push_back((at, bytes, us(capture), us(encode)));
    }

    /// Video bits sent over the last second, and the median capture and convert + encode times
    /// of its frames (`None` without frames).
    fn last_second(&mut self, now: Instant) -> (u64, Option<HostTimes>) {
        while self
            .sent
            .front()
            .is_some_and(|(t, ..)| now.saturating_duration_since(*t) > Duration::from_secs(1))
        {
            self.sent.pop_front();
        }
        let bits = self.sent.iter().map(|(_, b, ..)| *b as u64 * 8).sum();
        let median = |mut v: Vec<u32>| {
            v.sort_unstable();
            Duration::from_micros(u64::from(v[v.len() / 2]))
        };
        // Fewer than a handful of frames say little about the speed.
        let times = (self.sent.len() >= 5).then(|| HostTimes {
            capture: median(self.sent.iter().map(|s| s.2).collect()),
            encode: median(self.sent.iter().map(|s| s.3).collect()),
        });
        (bits, times)
    }

    /// The decision in force (a new one every [`RATE_EVERY`], and at once for a new report) with the network report it was
    /// made from (an empty one before any viewer has reported: the host's own speed still
    /// counts). `pixels` is a frame at scale 1, `fps` and `max_bps` the caps in force.
    fn tick(
        &mut self,
        pixels: u64,
        fps: u32,
        max_bps: u32,
        network: &NetworkReports,
    ) -> (RateDecision, NetworkReport) {
        let now = Instant::now();
        let report = network.worst().unwrap_or_default();
        // A new report is acted on at the next frame: a queue the page tells of is a buffer
        // filling, and a 3 Mbit/s bucket's is full in a few tenths of a second.
        if let Some(d) = self.last.filter(|_| now < self.next && report == self.report) {
            return (d, self.report);
        }
        self.next = now + RATE_EVERY;
        self.report = report;
        self.policy.set_pixels(pixels);
        self.policy.set_caps(fps, max_bps);
        let (sent, times) = self.last_second(now);
        let d = self.policy.update(now, &report, sent, times);
        if self.last.is_some_and(|l| (l.fps, l.scale, l.limit) != (d.fps, d.scale, d.limit)) {
            info!(
                "rate control: {} fps at {:.0}% size, {:.2} Mb/s, limit {}{} (estimate {}, loss {:.1}%)",
                d.fps,
                d.scale * 100.0,
                f64::from(d.bitrate_bps) / 1e6,
                d.limit.name(),
                self.policy.why().map_or(String::new(), |w| format!(": {w}")),
                report.estimate_bps.map_or("none".into(), |e| format!("{:.2} Mb/s", e as f64 / 1e6)),
                report.loss * 100.0
            );
        } else if self.last != Some(d) {
            debug!(bitrate = d.bitrate_bps, fps = d.fps, scale = d.scale, "rate control");
        }
        self.last = Some(d);
        (d, report)
    }
}

/// A registered viewer; unregisters on drop (also when its task panics).
#[derive(Debug)]
pub struct ViewerCount(Arc<AtomicUsize>, Arc<AtomicUsize>);

impl Drop for ViewerCount {
    fn drop(&mut self) {
        self.1.fetch_sub(1, Ordering::AcqRel);
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}
