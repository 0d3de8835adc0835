//! Windows capture: DXGI Desktop Duplication of one monitor (the GPU hands over changed
//! pictures) where the system allows it, else GDI (BitBlt of the screen into a bitmap of ours),
//! the path that works everywhere (Wine included, and for all monitors at once). Monitors come
//! from `EnumDisplayMonitors`, in virtual-desktop coordinates. The cursor is followed apart
//! (`watch_cursor`). Windows Graphics Capture is not built: for a whole monitor it adds nothing
//! over duplication, and it needs WinRT.

mod cursor;
mod dxgi;
mod gdi;

pub use cursor::watch_cursor;
pub use dxgi::DxgiCapturer;
pub use gdi::{GdiCapturer, list_monitors, monitor_rect};

/// Opens the fastest capture of `monitor` the system allows, and says once which and why.
pub fn open_desktop(monitor: &MonitorChoice) -> Result<Box<dyn crate::Capturer>, CaptureError> {
    match DxgiCapturer::open(monitor) {
        Ok(c) => {
            let (w, h) = crate::Capturer::size(&c);
            tracing::info!(
                "capturing the Windows desktop through DXGI desktop duplication ({w}x{h} on {}): the GPU hands over only changed pictures",
                c.adapter_name()
            );
            Ok(Box::new(c))
        }
        Err(why) => Ok(Box::new(GdiCapturer::open(
            monitor.clone(),
            &format!("is not available: {why} (Windows Graphics Capture is not built)"),
        )?)),
    }
}

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
