//! Platforms without a capture backend yet: only the test scene works there.

use crate::CaptureError;
use crate::platform::{DisplayInfo, MonitorChoice};

/// No X11 on this platform.
pub fn list_x11(_display: Option<&str>) -> Result<DisplayInfo, CaptureError> {
    Err(CaptureError::Unsupported("X11 capture is only available on Linux"))
}

/// No X11 on this platform.
pub fn open_x11(
    _display: Option<&str>,
    _monitor: &MonitorChoice,
) -> Result<Box<dyn crate::Capturer>, CaptureError> {
    Err(CaptureError::Unsupported("X11 capture is only available on Linux"))
}

/// No X11 on this platform.
pub fn watch_cursor(
    _display: Option<&str>,
    _monitor: &MonitorChoice,
    _on_event: impl FnMut(crate::CursorEvent),
) -> Result<(), CaptureError> {
    Err(CaptureError::Unsupported("X11 capture is only available on Linux"))
}

/// No desktop capture on this platform.
pub fn open_desktop(_monitor: &MonitorChoice) -> Result<Box<dyn crate::Capturer>, CaptureError> {
    Err(CaptureError::Unsupported("desktop capture is only available on Linux (X11) and Windows"))
}
