//! Linux capture: X11 (MIT-SHM, XDamage, RandR); Wayland through the ScreenCast portal and
//! PipeWire, or wlr-screencopy on wlroots compositors (the `wayland` feature).

#[cfg(feature = "wayland")]
mod wayland;
#[cfg(feature = "wayland")]
mod wlr;
mod x11;

#[cfg(feature = "wayland")]
pub use wayland::{PortalInput, RemoteControl, WaylandCapturer, WaylandRequest, open_wayland};
#[cfg(feature = "wayland")]
pub use wlr::{WlrCapturer, WlrOutput, open_wlr, wlr_outputs, wlr_screencopy_available};

pub use x11::{X11Capturer, list_x11, monitor_rect, open_x11, watch_cursor};

/// The X11 client library, for other crates that talk to the same display.
pub use x11rb;

/// The Windows desktop is only captured on Windows.
pub fn open_desktop(
    _monitor: &crate::platform::MonitorChoice,
) -> Result<Box<dyn crate::Capturer>, crate::CaptureError> {
    Err(crate::CaptureError::Unsupported("the Windows desktop is only captured on Windows; use --source x11"))
}
