//! Windows capture: GDI (BitBlt of the screen into a bitmap of ours), the path that works
//! everywhere (Wine included). Monitors come from `EnumDisplayMonitors`, in virtual-desktop
//! coordinates. Windows Graphics Capture and DXGI Desktop Duplication come later.

mod gdi;

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

/// The cursor is not followed on Windows yet.
pub fn watch_cursor(
    _display: Option<&str>,
    _monitor: &MonitorChoice,
    _on_event: impl FnMut(crate::CursorEvent),
) -> Result<(), CaptureError> {
    Err(CaptureError::Unsupported("the cursor is not followed on Windows yet"))
}
