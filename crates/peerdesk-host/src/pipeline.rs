//! Capture and encode threads. Capture puts each picture in a latest-wins slot; encode takes the
//! newest one, encodes it once and broadcasts it to every session. Nothing is captured or
//! encoded while nobody watches.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use peerdesk_capture::{Capturer, Frame, LatestSlot};
use peerdesk_encode::Encoder;
use peerdesk_session::VideoFrame;
use tokio::sync::broadcast;
use tracing::{debug, error, info, warn};

use crate::rate::{NetworkReports, RateDecision, RatePolicy, RateSetup};

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
    /// Rate control's latest decision, and the estimate and loss it was made from.
    pub rate: Option<(RateDecision, Option<u64>, f64)>,
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
        self.capture += later.capture;
        self.convert += later.convert;
        self.encode += later.encode;
        self.encode_max = self.encode_max.max(later.encode_max);
        self.totals_us.extend(later.totals_us);
        self.since = self.since.or(later.since);
        self.rate = later.rate.or(self.rate);
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
        w.capture += frame.capture_time;
        w.convert += frame.convert_time;
        w.encode += frame.encode_time;
        w.encode_max = w.encode_max.max(frame.encode_time);
        let total = frame.capture_time + frame.convert_time + frame.encode_time;
        w.totals_us.push(u32::try_from(total.as_micros()).unwrap_or(u32::MAX));
    }

    fn record_rate(&self, decision: RateDecision, estimate: Option<u64>, loss: f64) {
        let mut w = self.window.lock().unwrap_or_else(|p| p.into_inner());
        w.rate = Some((decision, estimate, loss));
    }

    /// Returns the window so far and starts a new one (which keeps the rate decision in force).
    pub fn take(&self) -> StageWindow {
        let mut w = self.window.lock().unwrap_or_else(|p| p.into_inner());
        let out = std::mem::take(&mut *w);
        w.since = Some(Instant::now());
        w.rate = out.rate;
        out
    }
}

/// The running capture and encode threads.
#[derive(Debug)]
pub struct Pipeline {
    frames: broadcast::Sender<VideoFrame>,
    keyframe: Arc<AtomicBool>,
    viewers: Arc<AtomicUsize>,
    stats: Arc<PipelineStats>,
    stop: Arc<AtomicBool>,
    slot: Arc<LatestSlot<Frame>>,
    threads: Vec<JoinHandle<()>>,
    failure: Arc<Failure>,
    network: Arc<NetworkReports>,
}

/// Why the capture thread stopped, for whoever waits on it.
#[derive(Debug, Default)]
struct Failure {
    why: Mutex<Option<String>>,
    notify: tokio::sync::Notify,
}

impl Pipeline {
    /// Starts capturing from `capturer` and encoding with `encoder`. With `rate`, the viewers'
    /// network reports steer the encoder's bitrate, frame rate and size within those limits
    /// (`pixels` follows the frames, fitted into the stream's largest size `--width/--height`);
    /// without, the encoder keeps its settings.
    pub fn start(
        mut capturer: Box<dyn Capturer>,
        mut encoder: Box<dyn Encoder>,
        rate: Option<RateSetup>,
    ) -> std::io::Result<Self> {
        let (frames, _) = broadcast::channel(FRAME_BACKLOG);
        let keyframe = Arc::new(AtomicBool::new(true));
        let viewers = Arc::new(AtomicUsize::new(0));
        let stats = Arc::new(PipelineStats::default());
        let stop = Arc::new(AtomicBool::new(false));
        let slot = Arc::new(LatestSlot::new());
        let failure = Arc::new(Failure::default());
        let network = Arc::new(NetworkReports::default());

        let capture = {
            let (stop, slot, viewers, failure) =
                (stop.clone(), slot.clone(), viewers.clone(), failure.clone());
            std::thread::Builder::new().name("peerdesk-capture".into()).spawn(move || {
                while !stop.load(Ordering::Relaxed) {
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
            let (stop, slot, tx, keyframe, stats, network) = (
                stop.clone(),
                slot.clone(),
                frames.clone(),
                keyframe.clone(),
                stats.clone(),
                network.clone(),
            );
            std::thread::Builder::new().name("peerdesk-encode".into()).spawn(move || {
                // The last picture, so a keyframe request on an idle screen (no new frames)
                // is answered at once instead of waiting for the screen to change.
                let mut last: Option<Frame> = None;
                let mut rate = rate.map(RateControl::new);
                // Capture time of the last frame encoded, for a lowered frame rate.
                let mut last_encoded: Option<Instant> = None;
                loop {
                    let wait =
                        if keyframe.load(Ordering::Acquire) && last.is_some() { KEYFRAME_WAIT } else { POLL };
                    let frame = match slot.take(wait) {
                        Some(f) => f,
                        None if stop.load(Ordering::Relaxed) || slot.is_closed() => break,
                        None if keyframe.load(Ordering::Acquire) => match last.take() {
                            Some(mut f) => {
                                f.captured_at = Instant::now();
                                f
                            }
                            None => continue,
                        },
                        None => continue,
                    };
                    if let Some(rc) = rate.as_mut() {
                        rc.tick(&frame, encoder.as_mut(), &network, &stats);
                    }
                    // A frame rate lowered by rate control: leave out frames that come too soon
                    // after the last (at full rate the source's own limit is the only one).
                    let lowered = rate.as_ref().and_then(RateControl::lowered_fps);
                    if let Some(fps) = lowered
                        && !keyframe.load(Ordering::Acquire)
                        && last_encoded.is_some_and(|t| {
                            let interval = Duration::from_secs(1) / fps.max(1);
                            frame.captured_at + FRAME_GATE_SLACK < t + interval && frame.captured_at > t
                        })
                    {
                        last = Some(frame);
                        continue;
                    }
                    let force = keyframe.swap(false, Ordering::AcqRel);
                    match encoder.encode(&frame, force) {
                        Ok(Some(e)) => {
                            last_encoded = Some(e.captured_at);
                            if let Some(rc) = rate.as_mut() {
                                rc.encoded(Instant::now(), e.data.len());
                            }
                            stats.record(&e);
                            let video = VideoFrame {
                                data: Arc::from(e.data),
                                keyframe: e.keyframe,
                                captured_at: e.captured_at,
                            };
                            // No receivers is fine: the last viewer just left.
                            let _ = tx.send(video);
                        }
                        Ok(None) => {
                            if force {
                                keyframe.store(true, Ordering::Release);
                            }
                        }
                        Err(e) => {
                            warn!("dropping a frame the encoder refused: {e}");
                            keyframe.store(true, Ordering::Release);
                        }
                    }
                    last = Some(frame);
                }
            })?
        };
        Ok(Self {
            frames,
            keyframe,
            viewers,
            stats,
            stop,
            slot,
            threads: vec![capture, encode],
            failure,
            network,
        })
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

    /// A receiver of every encoded frame from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<VideoFrame> {
        self.frames.subscribe()
    }

    /// Asks for the next frame to be a keyframe.
    pub fn request_keyframe(&self) {
        self.keyframe.store(true, Ordering::Release);
    }

    /// Registers a viewer; the pipeline runs while at least one is registered.
    pub fn add_viewer(&self) -> ViewerCount {
        self.viewers.fetch_add(1, Ordering::AcqRel);
        if let Some(t) = self.threads.first() {
            t.thread().unpark();
        }
        ViewerCount(self.viewers.clone())
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

/// The encode thread's side of rate control: the policy, fed the worst viewer's report every
/// [`RATE_EVERY`], and the encoder set to what it decides.
struct RateControl {
    policy: RatePolicy,
    max_size: (Option<u32>, Option<u32>),
    next: Instant,
    last: Option<RateDecision>,
    /// Sizes of the frames encoded in the last second, for the bitrate actually sent.
    sent: std::collections::VecDeque<(Instant, usize)>,
}

impl RateControl {
    fn new(setup: RateSetup) -> Self {
        Self {
            policy: RatePolicy::new(setup.limits),
            max_size: setup.max_size,
            next: Instant::now(),
            last: None,
            sent: std::collections::VecDeque::new(),
        }
    }

    /// The frame rate in force when rate control has lowered it below the stream's own.
    fn lowered_fps(&self) -> Option<u32> {
        self.last.map(|d| d.fps).filter(|&fps| fps < self.policy.full_fps())
    }

    fn encoded(&mut self, at: Instant, bytes: usize) {
        self.sent.push_back((at, bytes));
    }

    /// Video bits sent over the last second.
    fn sent_bps(&mut self, now: Instant) -> u64 {
        while self
            .sent
            .front()
            .is_some_and(|(t, _)| now.saturating_duration_since(*t) > Duration::from_secs(1))
        {
            self.sent.pop_front();
        }
        self.sent.iter().map(|(_, b)| *b as u64 * 8).sum()
    }

    fn tick(
        &mut self,
        frame: &Frame,
        encoder: &mut dyn Encoder,
        network: &NetworkReports,
        stats: &PipelineStats,
    ) {
        let now = Instant::now();
        if now < self.next {
            return;
        }
        self.next = now + RATE_EVERY;
        // Nobody reported yet (just joined, or no feedback negotiated): keep what is in force.
        let Some(report) = network.worst() else { return };
        let (w, h) = peerdesk_encode::scale::fit((frame.width, frame.height), self.max_size);
        self.policy.set_pixels(u64::from(w) * u64::from(h));
        let sent = self.sent_bps(now);
        let d = self.policy.update(now, report.estimate_bps, report.loss, sent);
        stats.record_rate(d, report.estimate_bps, report.loss);
        if self.last == Some(d) {
            return;
        }
        if self.last.is_some_and(|l| (l.fps, l.scale) != (d.fps, d.scale)) {
            info!(
                "rate control: {} fps at {:.0}% size, {:.2} Mb/s (estimate {}, loss {:.1}%)",
                d.fps,
                d.scale * 100.0,
                f64::from(d.bitrate_bps) / 1e6,
                report.estimate_bps.map_or("none".into(), |e| format!("{:.2} Mb/s", e as f64 / 1e6)),
                report.loss * 100.0
            );
        } else {
            debug!(bitrate = d.bitrate_bps, fps = d.fps, scale = d.scale, "rate control");
        }
        self.last = Some(d);
        if let Err(e) = encoder.set_rate(d.bitrate_bps, d.fps, d.scale) {
            warn!("cannot change the encoder's rate: {e}");
        }
    }
}

/// A registered viewer; unregisters on drop (also when its task panics).
#[derive(Debug)]
pub struct ViewerCount(Arc<AtomicUsize>);

impl Drop for ViewerCount {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}
