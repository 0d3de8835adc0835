//! Video encoding for peerdesk.
//!
//! Owns: colour conversion from captured BGRA to I420 ([`convert`]), the [`Encoder`] trait, its
//! backends ([`Backend`]: openh264 always; with the `ffmpeg` feature x264, NVENC, VAAPI and QSV
//! through FFmpeg's libavcodec; with the `av1` feature libaom's real-time AV1) and the choice
//! among them ([`open`], [`list`]). H.264 output is Annex-B, Constrained Baseline, no
//! B-frames, IDR only on request, SPS and PPS in front of every IDR; AV1 output is a temporal
//! unit of OBUs (low-overhead format), a sequence header in front of every keyframe.
//!
//! Does not own: capture, packetization or pacing (str0m does those), nor when to ask for a
//! keyframe (the session's keyframe throttle decides).
//!
//! Drive loop: the encode thread calls [`Encoder::encode`] for each frame it takes from the
//! capture slot; `force_keyframe` when a viewer asked for one.

pub mod annexb;
#[cfg(feature = "av1")]
mod aom_enc;
pub mod convert;
#[cfg(feature = "ffmpeg")]
mod ffmpeg_enc;
mod openh264_enc;
pub mod scale;
mod select;

use std::time::{Duration, Instant};

#[cfg(feature = "av1")]
pub use aom_enc::{AomEncoder, Av1Decoder, DecodedPicture};
#[cfg(feature = "ffmpeg")]
pub use ffmpeg_enc::FfmpegEncoder;
pub use openh264_enc::OpenH264Encoder;
pub use select::{Opened, list, open, open_first};

/// Whether this build has the FFmpeg backends (the `ffmpeg` cargo feature).
pub const FFMPEG: bool = cfg!(feature = "ffmpeg");

/// Whether this build has libaom's AV1 encoder (the `av1` cargo feature).
pub const AV1: bool = cfg!(feature = "av1");

/// A video compression format a browser decodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Codec {
    /// H.264, Constrained Baseline: every browser.
    H264,
    /// AV1, main profile: Chromium, Firefox, Safari on recent Apple hardware.
    Av1,
}

impl Codec {
    /// Both, H.264 first.
    pub const ALL: [Self; 2] = [Self::H264, Self::Av1];

    /// Its usual name.
    pub fn name(self) -> &'static str {
        match self {
            Self::H264 => "H.264",
            Self::Av1 => "AV1",
        }
    }
}

impl std::fmt::Display for Codec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The lowest target bitrate an encoder is given.
pub(crate) const MIN_BITRATE: u32 = 10_000;

/// The bitrate, frame rate and scale an encoder made with `config` takes from rate control's
/// asking: the bitrate within [`MIN_BITRATE`] and the one it was made with, the frame rate
/// within 1 and its own, the scale within 0.1 and 1 (1 for nonsense).
pub(crate) fn bounded_rate(
    config: &EncoderConfig,
    bitrate_bps: u32,
    fps: u32,
    scale: f64,
) -> (u32, u32, f64) {
    (
        bitrate_bps.clamp(MIN_BITRATE, config.bitrate_bps.max(MIN_BITRATE)),
        fps.clamp(1, config.fps.max(1)),
        if scale.is_finite() { scale.clamp(0.1, 1.0) } else { 1.0 },
    )
}

/// 4:2:0 video needs positive, even sizes.
pub(crate) fn check_size(width: u32, height: u32) -> Result<(), String> {
    if width == 0 || height == 0 || !width.is_multiple_of(2) || !height.is_multiple_of(2) {
        return Err(format!("size {width}x{height} must be positive and even"));
    }
    Ok(())
}

/// An implementation of video encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Backend {
    /// NVIDIA's GPU encoder, through FFmpeg.
    Nvenc,
    /// A GPU through VAAPI (Intel, AMD), through FFmpeg.
    Vaapi,
    /// Intel Quick Sync, through FFmpeg.
    Qsv,
    /// x264 in software, through FFmpeg.
    X264,
    /// Cisco's openh264 in software, built in.
    OpenH264,
    /// libaom's real-time AV1 encoder, software.
    Aom,
}

impl Backend {
    /// Every backend, in the order `--encoder auto` tries them: GPUs first, then the cheapest
    /// software encoder.
    pub const ALL: [Self; 6] = [Self::Nvenc, Self::Vaapi, Self::Qsv, Self::X264, Self::OpenH264, Self::Aom];

    /// The backends that make `codec`, in the order `--encoder auto` tries them.
    pub fn for_codec(codec: Codec) -> impl Iterator<Item = Self> {
        Self::ALL.into_iter().filter(move |b| b.makes(codec))
    }

    /// Whether it makes `codec` (a GPU backend makes AV1 only where FFmpeg and the GPU have it).
    pub fn makes(self, codec: Codec) -> bool {
        match self {
            Self::Nvenc | Self::Vaapi | Self::Qsv => true,
            Self::X264 | Self::OpenH264 => codec == Codec::H264,
            Self::Aom => codec == Codec::Av1,
        }
    }

    /// The name `--encoder` takes and the stats show.
    pub fn name(self) -> &'static str {
        match self {
            Self::Nvenc => "nvenc",
            Self::Vaapi => "vaapi",
            Self::Qsv => "qsv",
            Self::X264 => "x264",
            Self::OpenH264 => "openh264",
            Self::Aom => "aom",
        }
    }

    /// What it is, in words.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Nvenc => "NVIDIA GPU (NVENC)",
            Self::Vaapi => "GPU through VAAPI (Intel, AMD)",
            Self::Qsv => "Intel GPU (Quick Sync)",
            Self::X264 => "x264, software",
            Self::OpenH264 => "openh264, software, built in",
            Self::Aom => "libaom AV1, software",
        }
    }

    /// Whether it encodes on a GPU.
    pub fn hardware(self) -> bool {
        matches!(self, Self::Nvenc | Self::Vaapi | Self::Qsv)
    }
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Backend {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|b| b.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| format!("no encoder named {s:?}; one of {}", Self::ALL.map(Self::name).join(", ")))
    }
}

/// Which codecs a host offers its viewers (`--codec`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CodecChoice {
    /// H.264 for every viewer, and AV1 too for browsers that decode it when a GPU encodes it
    /// here (in software AV1 costs three to six times x264's CPU: docs/PERFORMANCE.md).
    #[default]
    Auto,
    /// H.264 only.
    H264,
    /// AV1 for every browser that decodes it (in software where no GPU encodes it), H.264 for
    /// the others.
    Av1,
}

impl std::str::FromStr for CodecChoice {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Ok(Self::Auto),
            "h264" | "h.264" => Ok(Self::H264),
            "av1" => Ok(Self::Av1),
            _ => Err(format!("no codec named {s:?}; one of auto, h264, av1")),
        }
    }
}

/// Which encoder to use and how.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EncoderChoice {
    /// Which codecs to offer.
    pub codec: CodecChoice,
    /// One backend, or `None`: the first of [`Backend::ALL`] that works here. A backend is
    /// used for the codecs it makes; a codec it does not make gets the first that works.
    pub backend: Option<Backend>,
    /// The VAAPI render node; `None`: the first under /dev/dri.
    pub vaapi_device: Option<std::path::PathBuf>,
    /// Heal losses with a column of intra blocks that sweeps the picture once a second, where
    /// the encoder can, instead of leaving them to a keyframe.
    pub intra_refresh: bool,
}

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
    /// H.264 Annex-B bytes (start codes before each NAL unit), or an AV1 temporal unit.
    pub data: Vec<u8>,
    /// Whether this is an IDR or AV1 keyframe (decodable on its own).
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
    #[error("cannot set up the video encoder: {0}")]
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

    /// Which backend this is.
    fn backend(&self) -> Backend;

    /// What it makes.
    fn codec(&self) -> Codec {
        Codec::H264
    }
}
