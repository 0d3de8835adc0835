//! Screen capture for peerdesk.
//!
//! Owns: the [`Frame`] type (BGRA pixels with a capture timestamp), the [`Capturer`] trait every
//! source implements, the synthetic [`TestScene`] that runs on any machine, and (in later
//! issues) the platform backends under `platform/`.
//!
//! Does not own: encoding, networking, or the wire protocol; the host wires those together.
//!
//! Drive loop: a capture thread calls [`Capturer::next_frame`] in a loop; each call blocks
//! until there is a new picture (a timer tick for the test scene) and returns it.

pub mod cursor;
mod frame;
pub mod platform;
pub mod presence;
pub mod scene;

pub use cursor::{CursorEvent, CursorImage, CursorPosition};
pub use frame::{Frame, LatestSlot, tight_rows};
pub use platform::{DisplayInfo, MonitorChoice, MonitorInfo};
pub use scene::{MARKER_OFF, MARKER_ON, SceneControl, SceneLayout, TIMECODE_BITS, TestScene};

use std::time::Instant;

/// Why capture failed.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    /// The requested size cannot be captured (zero, odd or too large).
    #[error("invalid capture size {width}x{height}: {why}")]
    InvalidSize {
        /// Requested width.
        width: u32,
        /// Requested height.
        height: u32,
        /// What is wrong with it.
        why: &'static str,
    },
    /// The source stopped for good.
    #[error("capture source ended: {0}")]
    Ended(String),
    /// No display to capture: `DISPLAY` is not set and none was given.
    #[error("no X display: set DISPLAY or pass --display :N")]
    NoDisplay,
    /// The display could not be opened.
    #[error("cannot open X display {display}: {why}")]
    Open {
        /// The display asked for.
        display: String,
        /// What went wrong.
        why: String,
    },
    /// A required X extension is missing.
    #[error("the X server lacks the {0} extension, which peerdesk needs")]
    MissingExtension(&'static str),
    /// The requested monitor does not exist.
    #[error("no monitor {0}; `peerdesk host --list-sources` lists them")]
    NoSuchMonitor(String),
    /// The connection to the display failed while capturing.
    #[error("lost the X display: {0}")]
    Lost(String),
    /// The screen could not be captured this time (a Windows desktop behind the lock screen).
    #[error("{0}")]
    Screen(String),
    /// This platform or display cannot do what was asked.
    #[error("{0}")]
    Unsupported(&'static str),
    /// The desktop's portal or PipeWire refused or failed (Wayland), in words.
    #[error("{0}")]
    Desktop(String),
}

/// A source of pictures.
pub trait Capturer: Send {
    /// The size of the frames this source produces now.
    fn size(&self) -> (u32, u32);

    /// Blocks until the next picture is due (at most until `deadline`) and returns it, or
    /// `None` when the deadline came first.
    fn next_frame(&mut self, deadline: Instant) -> Result<Option<Frame>, CaptureError>;

    /// Captures at most once per `interval` (the stream's frame period). Sources with a pace
    /// of their own (the test scene) ignore it.
    fn set_min_interval(&mut self, _interval: std::time::Duration) {}

    /// Why the source shows nothing new for now, while it waits to come back by itself (a
    /// Windows desktop behind the lock screen or a UAC prompt); `None` while it streams.
    fn away(&self) -> Option<String> {
        None
    }
}

/// Largest width or height any source may produce.
pub const MAX_DIMENSION: u32 = 8192;

/// Checks a requested frame size: non-zero, even (4:2:0 video needs it), at most 8192.
pub fn validate_size(width: u32, height: u32) -> Result<(), CaptureError> {
    let why = if width == 0 || height == 0 {
        "width and height must be positive"
    } else if !width.is_multiple_of(2) || !height.is_multiple_of(2) {
        "width and height must be even"
    } else if width > MAX_DIMENSION || height > MAX_DIMENSION {
        "width and height must be at most 8192"
    } else {
        return Ok(());
    };
    Err(CaptureError::InvalidSize { width, height, why })
}
