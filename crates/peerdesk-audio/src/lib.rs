//! Sound for peerdesk: what the host plays, captured and encoded for the browser.
//!
//! Owns: the [`AudioSource`] trait and its sources (PulseAudio on Linux, recording a sink's
//! monitor; the test scene's [`ToneSource`]), the [`RtpClock`] that stamps every 10 ms frame,
//! and the [`OpusEncoder`] (48 kHz stereo, low-delay mode, 10 ms frames, DTX).
//!
//! Does not own: threads, retries or sending (the host's audio thread does those), nor RTP
//! packetization (str0m).
//!
//! Drive loop: the host's audio thread calls [`AudioSource::read`] for one frame, stamps it with
//! [`RtpClock::stamp`], encodes it with [`OpusEncoder::encode`] and hands the packet to every
//! viewer.

mod clock;
pub mod frames;
mod opus_enc;
pub mod platform;
mod tone;

use std::time::Instant;

pub use clock::RtpClock;
pub use opus_enc::{OpusConfig, OpusEncoder};
pub use tone::{BEAT_HZ, BEAT_LENGTH, BEEP_HZ, BEEP_LENGTH, ToneSource};

/// Samples per second (per channel); also the RTP clock rate of Opus.
pub const SAMPLE_RATE: u32 = 48_000;
/// Interleaved channels (left, right).
pub const CHANNELS: usize = 2;
/// Samples per channel in one frame: 10 ms.
pub const FRAME_SAMPLES: usize = 480;
/// Interleaved `i16` values in one frame.
pub const FRAME_LEN: usize = FRAME_SAMPLES * CHANNELS;

/// One 10 ms frame of interleaved stereo PCM.
pub type Pcm = [i16; FRAME_LEN];

/// One encoded frame, ready for RTP.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AudioPacket {
    /// The Opus packet.
    pub data: Vec<u8>,
    /// RTP timestamp (48 kHz) of its first sample.
    pub rtp: u64,
    /// When its first sample was captured (the wall clock beside `rtp`, for A/V sync).
    pub captured_at: Instant,
}

/// Why audio could not be captured or encoded.
#[derive(Debug, thiserror::Error)]
pub enum AudioError {
    /// No sound server to talk to (PulseAudio not running, or no socket).
    #[error("cannot connect to the sound server: {0}")]
    NoServer(String),
    /// The named source does not exist.
    #[error("no audio source named {0:?}; `peerdesk host --list-sources` lists them")]
    NoSuchSource(String),
    /// The stream broke while recording (the server went away, the source was removed).
    #[error("the audio stream stopped: {0}")]
    Lost(String),
    /// The encoder refused its settings or a frame.
    #[error("Opus encoder: {0}")]
    Encode(String),
    /// Not available on this platform.
    #[error("{0}")]
    Unsupported(&'static str),
}

/// Something that records sound, one 10 ms frame at a time.
pub trait AudioSource: Send {
    /// Blocks until the next frame is in `pcm`; returns when its first sample was captured.
    fn read(&mut self, pcm: &mut Pcm) -> Result<Instant, AudioError>;
}

/// A sound source the host can record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceInfo {
    /// The name to pass to `--audio-source`.
    pub name: String,
    /// What the sound server calls it.
    pub description: String,
    /// Whether it is the monitor of a sink (what the host plays).
    pub monitor: bool,
    /// Whether it is the default sink's monitor (what `peerdesk host` records by default).
    pub default: bool,
}
