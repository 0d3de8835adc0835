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
use tracing::{error, warn};

/// How long a thread waits before re-checking whether it should stop.
const POLL: Duration = Duration::from_millis(100);
/// How long a keyframe request waits for a fresh frame before the last one is re-encoded.
const KEYFRAME_WAIT: Duration = Duration::from_millis(20);
/// Encoded frames a slow session may fall behind before it must resynchronise on a keyframe.
const FRAME_BACKLOG: usize = 16;

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

    /// Returns the window so far and starts a new one.
    pub fn take(&self) -> StageWindow {
        let mut w = self.window.lock().unwrap_or_else(|p| p.into_inner());
        let out = std::mem::take(&mut *w);
        w.since = Some(Instant::now());
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
}

/// Why the capture thread stopped, for whoever waits on it.
#[derive(Debug, Default)]
struct Failure {
    why: Mutex<Option<String>>,
    notify: tokio::sync::Notify,
}

impl Pipeline {
    /// Starts capturing from `capturer` and encoding with `encoder`.
    pub fn start(mut capturer: Box<dyn Capturer>, mut encoder: Box<dyn Encoder>) -> std::io::Result<Self> {
        let (frames, _) = broadcast::channel(FRAME_BACKLOG);
        let keyframe = Arc::new(AtomicBool::new(true));
        let viewers = Arc::new(AtomicUsize::new(0));
        let stats = Arc::new(PipelineStats::default());
        let stop = Arc::new(AtomicBool::new(false));
        let slot = Arc::new(LatestSlot::new());
        let failure = Arc::new(Failure::default());

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
            let (stop, slot, tx, keyframe, stats) =
                (stop.clone(), slot.clone(), frames.clone(), keyframe.clone(), stats.clone());
            std::thread::Builder::new().name("peerdesk-encode".into()).spawn(move || {
                // The last picture, so a keyframe request on an idle screen (no new frames)
                // is answered at once instead of waiting for the screen to change.
                let mut last: Option<Frame> = None;
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
                    let force = keyframe.swap(false, Ordering::AcqRel);
                    match encoder.encode(&frame, force) {
                        Ok(Some(e)) => {
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
        Ok(Self { frames, keyframe, viewers, stats, stop, slot, threads: vec![capture, encode], failure })
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

/// A registered viewer; unregisters on drop (also when its task panics).
#[derive(Debug)]
pub struct ViewerCount(Arc<AtomicUsize>);

impl Drop for ViewerCount {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}
