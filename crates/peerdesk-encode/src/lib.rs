//! Video encoding for peerdesk.
//!
//! Owns: colour conversion from captured BGRA to I420 ([`convert`]), the [`Encoder`] trait and
//! its openh264 implementation ([`OpenH264Encoder`]). Output is H.264 Annex-B, Constrained
//! Baseline, no B-frames, IDR only on request, SPS and PPS in front of every IDR.
//!
//! Does not own: capture, packetization or pacing (str0m does those), nor when to ask for a
//! keyframe (the session's keyframe throttle decides).
//!
//! Drive loop: the encode thread calls [`Encoder::encode`] for each frame it takes from the
//! capture slot; `force_keyframe` when a viewer asked for one.

pub mod convert;
mod openh264_enc;
pub mod scale;

use std::time::{Duration, Instant};

pub use openh264_enc::OpenH264Encoder;

/// Whether openh264 was built with its assembly (nasm present at build time).
pub const ASSEMBLY: bool = cfg!(peerdesk_nasm);

/// Settings of a video encoder.
#[derive(Clone, Debug, PartialEq)]
pub struct EncoderConfig {
    /// Frame width, even.
    pub width: u32,
    /// Frame height, even.
    pub height: u32,
    /// Frames per second expected.
    pub fps: u32,
    /// Target bitrate in bits per second.
    pub bitrate_bps: u32,
    /// Largest stream width and height (`--width/--height`); larger frames are scaled down to
    /// fit, keeping their aspect. `None` on a side: no bound.
    pub max_size: (Option<u32>, Option<u32>),
}

/// One encoded picture.
#[derive(Clone, Debug)]
pub struct EncodedFrame {
    /// H.264 Annex-B bytes (start codes before each NAL unit).
    pub data: Vec<u8>,
    /// Whether this is an IDR (decodable on its own).
    pub keyframe: bool,
    /// Width of the picture.
    pub width: u32,
    /// Height of the picture.
    pub height: u32,
    /// When the source picture was captured.
    pub captured_at: Instant,
    /// Time spent capturing.
    pub capture_time: Duration,
    /// Time spent converting BGRA to I420.
    pub convert_time: Duration,
    /// Time spent encoding.
    pub encode_time: Duration,
}

/// Why encoding failed.
#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    /// The encoder could not be set up with these settings.
    #[error("cannot set up the H.264 encoder: {0}")]
    Setup(String),
    /// A frame could not be converted to I420.
    #[error("colour conversion failed: {0}")]
    Convert(String),
    /// The encoder rejected a frame.
    #[error("encoding failed: {0}")]
    Encode(String),
}

/// A video encoder.
pub trait Encoder: Send {
    /// Encodes one frame; `None` when the encoder's rate control skipped it.
    fn encode(
        &mut self,
        frame: &peerdesk_capture::Frame,
        force_keyframe: bool,
    ) -> Result<Option<EncodedFrame>, EncodeError>;

    /// Rate control's settings from the next frame on: the target bitrate (at most the one the
    /// encoder was made with), the frame rate rate control budgets for (the caller feeds frames
    /// at that rate), and a scale of the stream's size (1.0 full; a new scale restarts the stream
    /// at the new size with a keyframe). Bitrate and frame rate change without a keyframe.
    fn set_rate(&mut self, bitrate_bps: u32, fps: u32, scale: f64) -> Result<(), EncodeError>;

    /// The bitrate, frame rate and scale in force.
    fn rate(&self) -> (u32, u32, f64);
}
