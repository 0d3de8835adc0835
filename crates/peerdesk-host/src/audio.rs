//! The audio thread: records 10 ms frames, stamps and encodes them once, and broadcasts the
//! packets to every session. Sound is never allowed to stop the picture: when the source is
//! missing or breaks, the thread says so once, keeps trying every few seconds, and picks up
//! again when the source returns. Nothing is recorded while nobody watches.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use peerdesk_audio::{AudioError, AudioSource, OpusConfig, OpusEncoder, RtpClock, ToneSource};
use peerdesk_session::AudioFrame;
use tokio::sync::broadcast;
use tracing::{info, warn};

/// How long the idle thread waits before checking again for viewers or a stop.
const IDLE_POLL: Duration = Duration::from_millis(100);
/// How long between attempts to open a missing source.
const RETRY: Duration = Duration::from_secs(2);
/// Packets a slow session may fall behind (then it skips ahead; audio never queues).
const AUDIO_BACKLOG: usize = 16;

/// Where the host's sound comes from.
pub enum AudioKind {
    /// The test scene's tones: beats on whole seconds from `origin`, a beep each time
    /// `inputs` grows.
    Scene {
        /// The scene's start.
        origin: Instant,
        /// A counter of input events.
        inputs: Arc<dyn Fn() -> u64 + Send + Sync>,
    },
    /// A source of the sound server (such as `@DEFAULT_MONITOR@`).
    Desktop(String),
}

impl std::fmt::Debug for AudioKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Scene { origin, .. } => f.debug_struct("Scene").field("origin", origin).finish(),
            Self::Desktop(name) => f.debug_tuple("Desktop").field(name).finish(),
        }
    }
}

impl AudioKind {
    fn open(&self) -> Result<Box<dyn AudioSource>, AudioError> {
        match self {
            Self::Scene { origin, inputs } => {
                let inputs = inputs.clone();
                Ok(Box::new(ToneSource::new(*origin, Box::new(move || inputs()))))
            }
            Self::Desktop(name) => peerdesk_audio::platform::open_desktop(name),
        }
    }
}

/// Audio counters since the last [`AudioStats::take`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AudioWindow {
    /// Frames recorded.
    pub frames: u64,
    /// Packets sent (silence under DTX is not).
    pub packets: u64,
    /// Encoded bytes.
    pub bytes: u64,
    /// Time spent encoding.
    pub encode: Duration,
}

impl AudioWindow {
    /// Adds a later window's counts to this one.
    pub fn merge(&mut self, later: AudioWindow) {
        self.frames += later.frames;
        self.packets += later.packets;
        self.bytes += later.bytes;
        self.encode += later.encode;
    }
}

/// Shared audio counters.
#[derive(Debug, Default)]
pub struct AudioStats(Mutex<AudioWindow>);

impl AudioStats {
    /// Takes the counters, starting a new window.
    pub fn take(&self) -> AudioWindow {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }

    fn add(&self, f: impl FnOnce(&mut AudioWindow)) {
        f(&mut self.0.lock().unwrap_or_else(|p| p.into_inner()));
    }
}

/// The running audio thread.
#[derive(Debug)]
pub struct AudioStream {
    packets: broadcast::Sender<AudioFrame>,
    stop: Arc<AtomicBool>,
    stats: Arc<AudioStats>,
    thread: Option<JoinHandle<()>>,
}

impl AudioStream {
    /// Starts the thread; it records only while someone [`subscribe`](Self::subscribe)s.
    pub fn start(kind: AudioKind, opus: OpusConfig) -> std::io::Result<Self> {
        let (packets, _) = broadcast::channel(AUDIO_BACKLOG);
        let stop = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(AudioStats::default());
        let thread = {
            let (packets, stop, stats) = (packets.clone(), stop.clone(), stats.clone());
            std::thread::Builder::new()
                .name("peerdesk-audio".into())
                .spawn(move || run(&kind, &opus, &packets, &stop, &stats))?
        };
        Ok(Self { packets, stop, stats, thread: Some(thread) })
    }

    /// A receiver of every packet from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<AudioFrame> {
        self.packets.subscribe()
    }

    /// The counters.
    pub fn stats(&self) -> &AudioStats {
        &self.stats
    }
}

impl Drop for AudioStream {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            // A blocked read ends within one frame (10 ms) or when its server goes away.
            let _ = t.join();
        }
    }
}

/// Waits `d` in short steps; false when asked to stop.
fn wait(stop: &AtomicBool, d: Duration) -> bool {
    let end = Instant::now() + d;
    while Instant::now() < end {
        if stop.load(Ordering::Acquire) {
            return false;
        }
        std::thread::sleep(IDLE_POLL.min(end.saturating_duration_since(Instant::now())));
    }
    !stop.load(Ordering::Acquire)
}

fn run(
    kind: &AudioKind,
    opus: &OpusConfig,
    packets: &broadcast::Sender<AudioFrame>,
    stop: &AtomicBool,
    stats: &AudioStats,
) {
    let mut encoder = match OpusEncoder::new(opus) {
        Ok(e) => e,
        Err(e) => return warn!("no sound: {e}; streaming video alone"),
    };
    // The scene's sound counts its RTP time from the scene's start, so a benchmark that knows
    // when the scene started can tell when each received sample was made.
    let origin = match kind {
        AudioKind::Scene { origin, .. } => *origin,
        AudioKind::Desktop(_) => Instant::now(),
    };
    let mut clock = RtpClock::new(origin);
    // Whether the user has been told that sound is missing (told once, until it is back).
    let mut missing = false;
    let mut pcm = [0i16; peerdesk_audio::FRAME_LEN];
    while !stop.load(Ordering::Acquire) {
        if packets.receiver_count() == 0 {
            // Nobody listens: record nothing (and release the sound device).
            std::thread::sleep(IDLE_POLL);
            continue;
        }
        let mut source = match kind.open() {
            Ok(s) => s,
            Err(e) => {
                if !missing {
                    warn!(
                        "no sound: {e}; streaming video alone and trying again every {} s",
                        RETRY.as_secs()
                    );
                    missing = true;
                }
                if !wait(stop, RETRY) {
                    return;
                }
                continue;
            }
        };
        if missing {
            info!("sound is back");
            missing = false;
        }
        let mut first = true;
        while !stop.load(Ordering::Acquire) && packets.receiver_count() > 0 {
            let at = match source.read(&mut pcm) {
                Ok(at) => at,
                Err(e) => {
                    warn!("{e}; streaming video alone and trying again every {} s", RETRY.as_secs());
                    missing = true;
                    break;
                }
            };
            if first {
                // A (re)start: the stamps continue from the wall clock, so a gap stays a gap.
                clock.restart(at);
                first = false;
            }
            let rtp = clock.stamp(at);
            let t0 = Instant::now();
            let packet = match encoder.encode(&pcm) {
                Ok(p) => p,
                Err(e) => {
                    warn!("{e}; sound stops");
                    return;
                }
            };
            let took = t0.elapsed();
            let sent = packet.map(|data| {
                let len = data.len() as u64;
                // No receivers is fine: the last viewer just left.
                let _ = packets.send(AudioFrame { data: Arc::from(data), rtp, captured_at: at });
                len
            });
            stats.add(|w| {
                w.frames += 1;
                w.encode += took;
                if let Some(len) = sent {
                    w.packets += 1;
                    w.bytes += len;
                }
            });
        }
        if missing && !wait(stop, RETRY) {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_scenes_flash_and_its_beat_tone_last_equally_long() {
        // The scene draws the flash, peerdesk-audio makes the tone: A/V sync measurements pair
        // the two, so they must start and end together.
        assert_eq!(peerdesk_capture::scene::BEAT_FLASH, peerdesk_audio::BEAT_LENGTH);
    }
}
