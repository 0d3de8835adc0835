//! Windows capture: GDI (BitBlt of the screen into a bitmap of ours), the path that works
//! everywhere (Wine included). Monitors come from `EnumDisplayMonitors`, in virtual-desktop
//! coordinates. The cursor is followed apart (`watch_cursor`). Windows Graphics Capture and DXGI
//! Desktop Duplication come later.

mod cursor;
mod gdi;

pub use cursor::watch_cursor;
pub use gdi::{GdiCapturer, list_monitors, monitor_rect, open_desktop};

use crate::CaptureError;
use crate::platform::{DisplayInfo, MonitorChoice};

/// No X11 on Windows.
pub fn list_x11(_display: Option<&str>) -> Result<DisplayInfo, CaptureError> {
    Err(CaptureError::Unsupported("X11 capture is only available on Linux; use --source desktop"))
}

/// No X11 on Windows.
pub fn open_x11(
    _display: Option<&str>,
    _monitor: &MonitorChoice,
) -> Result<Box<dyn crate::Capturer>, CaptureError> {
    Err(CaptureError::Unsupported("X11 capture is only available on Linux; use --source desktop"))
}
