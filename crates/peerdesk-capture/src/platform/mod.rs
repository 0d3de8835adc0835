//! Platform capture backends: one cfg ladder picks `imp`; every platform has at least the
//! functions below, returning [`CaptureError::Unsupported`](crate::CaptureError) where there is
//! no backend yet.

#[cfg(target_os = "linux")]
#[path = "linux/mod.rs"]
mod imp;

#[cfg(not(target_os = "linux"))]
#[path = "fallback.rs"]
mod imp;

pub use imp::*;

/// Which monitor of a display to capture.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MonitorChoice {
    /// The primary monitor, or the whole screen when there is none.
    Primary,
    /// The monitor at this position in the list (`--list-sources` shows it).
    Index(usize),
    /// The monitor with this name (such as `DP-1`).
    Name(String),
    /// The whole screen, all monitors.
    WholeScreen,
}

/// A monitor of a display.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MonitorInfo {
    /// Its name (RandR output name).
    pub name: String,
    /// Left edge on the screen.
    pub x: i32,
    /// Top edge on the screen.
    pub y: i32,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Whether it is the primary monitor.
    pub primary: bool,
}

/// A display and its monitors.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DisplayInfo {
    /// The display's name (such as `:0`).
    pub name: String,
    /// Screen width in pixels.
    pub width: u32,
    /// Screen height in pixels.
    pub height: u32,
    /// Its monitors, in RandR order.
    pub monitors: Vec<MonitorInfo>,
}
