//! GDI capture: the screen's device context copied (`BitBlt`) into a bitmap of ours, read back
//! as top-down BGRA (`GetDIBits`). Paced by the stream's frame period (GDI says nothing of
//! changes); the monitor's rectangle is looked up again every second, so a resolution or
//! layout change is followed with a new frame size.

#![allow(unsafe_code)]

use std::time::{Duration, Instant};

use windows_sys::Win32::Foundation::{LPARAM, RECT};
use windows_sys::Win32::Graphics::Gdi::{
    BI_RGB, BITMAPINFO, BITMAPINFOHEADER, BitBlt, CAPTUREBLT, CreateCompatibleBitmap, CreateCompatibleDC,
    DIB_RGB_COLORS, DeleteDC, DeleteObject, EnumDisplayMonitors, GetDC, GetDIBits, GetMonitorInfoW, HBITMAP,
    HDC, HGDIOBJ, HMONITOR, MONITORINFO, MONITORINFOEXW, ReleaseDC, SRCCOPY, SelectObject,
};
use windows_sys::Win32::UI::WindowsAndMessaging::{
    GetSystemMetrics, MONITORINFOF_PRIMARY, SM_CXVIRTUALSCREEN, SM_CYVIRTUALSCREEN, SM_XVIRTUALSCREEN,
    SM_YVIRTUALSCREEN,
};

use crate::platform::{DisplayInfo, MonitorChoice, MonitorInfo};
use crate::presence::{Change, Pacer};
use crate::{CaptureError, Capturer, Frame};

/// How often the monitor's rectangle is looked up again.
const RECHECK: Duration = Duration::from_secs(1);
/// How often a desktop that cannot be captured is tried again.
const RETRY: Duration = Duration::from_millis(250);
/// What viewers are told while the desktop cannot be captured.
pub(super) const AWAY: &str = "The host's screen is locked or showing a UAC prompt, which Windows lets no program capture. The picture comes back when it is unlocked or the prompt is answered.";

/// Test builds only: while the file named by PEERDESK_FAULT_DESKTOP_AWAY exists, capturing
/// fails as it does behind the lock screen (which Wine, where the tests run, does not have).
#[cfg(debug_assertions)]
fn fault_injected() -> bool {
    std::env::var_os("PEERDESK_FAULT_DESKTOP_AWAY").is_some_and(|p| std::path::Path::new(&p).exists())
}

#[cfg(not(debug_assertions))]
fn fault_injected() -> bool {
    false
}

/// The virtual desktop (all monitors): left, top, width, height.
fn virtual_desktop() -> (i32, i32, u32, u32) {
    // SAFETY: GetSystemMetrics takes a constant and only reads system state.
    let m = |i| unsafe { GetSystemMetrics(i) };
    let size = |v: i32| u32::try_from(v).unwrap_or(0);
    (m(SM_XVIRTUALSCREEN), m(SM_YVIRTUALSCREEN), size(m(SM_CXVIRTUALSCREEN)), size(m(SM_CYVIRTUALSCREEN)))
}

unsafe extern "system" fn collect_monitor(
    monitor: HMONITOR,
    _dc: HDC,
    _rect: *mut RECT,
    data: LPARAM,
) -> i32 {
    // SAFETY: `data` is the `&mut Vec<MonitorInfo>` list_monitors passed to
    // EnumDisplayMonitors, alive for the whole (synchronous) enumeration, and nothing else
    // touches it meanwhile.
    let list = unsafe { &mut *(data as *mut Vec<MonitorInfo>) };
    // SAFETY: an all-zero MONITORINFOEXW is valid (plain integers and arrays).
    let mut info: MONITORINFOEXW = unsafe { std::mem::zeroed() };
    info.monitorInfo.cbSize = std::mem::size_of::<MONITORINFOEXW>() as u32;
    // SAFETY: `monitor` comes from the enumeration; `info` is sized by cbSize as the API asks,
    // and GetMonitorInfoW writes only within it.
    let ok = unsafe { GetMonitorInfoW(monitor, (&raw mut info).cast::<MONITORINFO>()) };
    if ok != 0 {
        let r = info.monitorInfo.rcMonitor;
        let end = info.szDevice.iter().position(|&c| c == 0).unwrap_or(info.szDevice.len());
        list.push(MonitorInfo {
            name: String::from_utf16_lossy(&info.szDevice[..end]),
            x: r.left,
            y: r.top,
            width: u32::try_from(r.right - r.left).unwrap_or(0),
            height: u32::try_from(r.bottom - r.top).unwrap_or(0),
            primary: info.monitorInfo.dwFlags & MONITORINFOF_PRIMARY != 0,
        });
    }
    1
}

/// The monitors, as Windows enumerates them, in virtual-desktop coordinates.
pub fn list_monitors() -> Result<DisplayInfo, CaptureError> {
    let mut list: Vec<MonitorInfo> = Vec::new();
    // SAFETY: a null DC and clip rect enumerate every monitor; the callback gets `list` back
    // as LPARAM and the call returns only when the enumeration is done.
    let ok = unsafe {
        EnumDisplayMonitors(
            std::ptr::null_mut(),
            std::ptr::null(),
            Some(collect_monitor),
            (&raw mut list) as LPARAM,
        )
    };
    if ok == 0 {
        return Err(CaptureError::Unsupported("Windows listed no monitors (is the session locked?)"));
    }
    let (_, _, width, height) = virtual_desktop();
    Ok(DisplayInfo { name: "desktop".into(), width, height, monitors: list })
}

/// The rectangle of `choice` on the virtual desktop: left, top, width, height.
pub fn monitor_rect(choice: &MonitorChoice) -> Result<(i32, i32, u32, u32), CaptureError> {
    let desktop = list_monitors()?;
    match crate::platform::pick_monitor(&desktop.monitors, choice)? {
        Some(m) => Ok((m.x, m.y, m.width, m.height)),
        None => Ok(virtual_desktop()),
    }
}

/// What GetDIBits is asked for: `w` x `h`, 32-bit BGRA, rows top-down.
pub(super) fn bgra_info(w: i32, h: i32) -> BITMAPINFO {
    // SAFETY: an all-zero BITMAPINFO is valid (integers and an array of them).
    let mut info: BITMAPINFO = unsafe { std::mem::zeroed() };
    info.bmiHeader = BITMAPINFOHEADER {
        biSize: std::mem::size_of::<BITMAPINFOHEADER>() as u32,
        biWidth: w,
        // Negative: top-down rows.
        biHeight: -h,
        biPlanes: 1,
        biBitCount: 32,
        biCompression: BI_RGB,
        ..info.bmiHeader
    };
    info
}

/// Our memory DC and the bitmap selected into it.
struct Surface {
    dc: HDC,
    bitmap: HBITMAP,
    old: HGDIOBJ,
    width: u32,
    height: u32,
}

// SAFETY: a memory DC and a bitmap are not bound to the thread that made them (unlike
// windows); the capturer that owns them is used by one thread at a time (the capture thread).
unsafe impl Send for Surface {}

impl Surface {
    fn new(width: u32, height: u32) -> Result<Self, CaptureError> {
        let w = i32::try_from(width).map_err(|_| CaptureError::Unsupported("monitor too wide"))?;
        let h = i32::try_from(height).map_err(|_| CaptureError::Unsupported("monitor too tall"))?;
        // SAFETY: GetDC(null) is the screen's DC, released below; the memory DC and bitmap
        // are made compatible with it and owned by the Surface (freed in Drop).
        unsafe {
            let screen = GetDC(std::ptr::null_mut());
            if screen.is_null() {
                return Err(CaptureError::Unsupported(
                    "no screen device context (a secure desktop or a locked session?)",
                ));
            }
            let dc = CreateCompatibleDC(screen);
            let bitmap = CreateCompatibleBitmap(screen, w, h);
            ReleaseDC(std::ptr::null_mut(), screen);
            if dc.is_null() || bitmap.is_null() {
                if !dc.is_null() {
                    DeleteDC(dc);
                }
                if !bitmap.is_null() {
                    DeleteObject(bitmap);
                }
                return Err(CaptureError::Unsupported("GDI could not make a bitmap of the screen's size"));
            }
            let old = SelectObject(dc, bitmap);
            Ok(Self { dc, bitmap, old, width, height })
        }
    }

    /// Copies the screen rectangle at (x, y) into `out` as top-down BGRA.
    fn grab(&mut self, x: i32, y: i32, out: &mut [u8]) -> Result<(), CaptureError> {
        let (w, h) = (self.width as i32, self.height as i32);
        debug_assert_eq!(out.len(), self.width as usize * self.height as usize * 4);
        let mut info = bgra_info(w, h);
        // SAFETY: the screen DC is taken and released here; `self.dc` holds our bitmap of
        // exactly w x h; GetDIBits writes h rows of w * 4 bytes (32 bpp, top-down) into `out`,
        // which has exactly that length.
        let (copied, rows) = unsafe {
            let screen = GetDC(std::ptr::null_mut());
            if screen.is_null() {
                return Err(CaptureError::Screen(
                    "the screen's device context went away (secure desktop, UAC prompt or a locked session)"
                        .into(),
                ));
            }
            let copied = BitBlt(self.dc, 0, 0, w, h, screen, x, y, SRCCOPY | CAPTUREBLT);
            ReleaseDC(std::ptr::null_mut(), screen);
            let rows = GetDIBits(
                self.dc,
                self.bitmap,
                0,
                h as u32,
                out.as_mut_ptr().cast(),
                &raw mut info,
                DIB_RGB_COLORS,
            );
            (copied, rows)
        };
        if copied == 0 || rows != h {
            return Err(CaptureError::Screen(
                "BitBlt of the screen failed (secure desktop, UAC prompt or a locked session)".into(),
            ));
        }
        Ok(())
    }
}

impl Drop for Surface {
    fn drop(&mut self) {
        // SAFETY: the objects are ours, made in `new`; the old object goes back into the DC
        // before the bitmap is deleted.
        unsafe {
            SelectObject(self.dc, self.old);
            DeleteObject(self.bitmap);
            DeleteDC(self.dc);
        }
    }
}

/// Captures one monitor (or the whole virtual desktop) through GDI.
pub struct GdiCapturer {
    monitor: MonitorChoice,
    area: (i32, i32, u32, u32),
    surface: Surface,
    checked: Instant,
    pace: Pacer,
}

impl std::fmt::Debug for GdiCapturer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GdiCapturer")
            .field("monitor", &self.monitor)
            .field("area", &self.area)
            .finish_non_exhaustive()
    }
}

impl GdiCapturer {
    /// Opens the capture of `monitor`; `why_not_faster` (why DXGI duplication was refused)
    /// goes in the log line that names the path taken.
    pub fn open(monitor: MonitorChoice, why_not_faster: &str) -> Result<Self, CaptureError> {
        let area = even(monitor_rect(&monitor)?);
        let surface = Surface::new(area.2, area.3)?;
        tracing::info!(
            "capturing the Windows desktop through GDI ({}x{} at {},{}), the path that always works: DXGI desktop duplication {why_not_faster}",
            area.2,
            area.3,
            area.0,
            area.1
        );
        let now = Instant::now();
        Ok(Self { monitor, area, surface, checked: now, pace: Pacer::new(RETRY, now) })
    }
}

/// The rectangle with even sides (4:2:0 video), at least 2x2.
fn even((x, y, w, h): (i32, i32, u32, u32)) -> (i32, i32, u32, u32) {
    (x, y, (w & !1).max(2), (h & !1).max(2))
}

impl Capturer for GdiCapturer {
    fn size(&self) -> (u32, u32) {
        (self.area.2, self.area.3)
    }

    fn set_min_interval(&mut self, interval: Duration) {
        self.pace.set_min_interval(interval);
    }

    fn away(&self) -> Option<String> {
        self.pace.presence.away().map(str::to_owned)
    }

    fn next_frame(&mut self, deadline: Instant) -> Result<Option<Frame>, CaptureError> {
        // The source's own clock: GDI tells nothing of changes, so it samples each period.
        if !self.pace.wait(deadline) {
            return Ok(None);
        }
        let start = Instant::now();
        self.pace.taken(start);
        match self.grab(start) {
            Ok(frame) => {
                if self.pace.presence.succeeded() == Change::Back {
                    tracing::info!("the desktop is back: streaming again");
                }
                Ok(Some(frame))
            }
            // Behind the lock screen or a UAC prompt nothing can be captured: wait for the
            // desktop to come back rather than end the stream.
            Err(e) => {
                if self.pace.presence.failed(AWAY, start) == Change::Left {
                    tracing::warn!(
                        "cannot capture the desktop ({e}): the screen is locked or a UAC prompt shows; viewers see the last picture until it is back"
                    );
                }
                Ok(None)
            }
        }
    }
}

impl GdiCapturer {
    /// One picture of the monitor, following changes of its rectangle.
    fn grab(&mut self, start: Instant) -> Result<Frame, CaptureError> {
        if start.duration_since(self.checked) >= RECHECK || self.pace.presence.away().is_some() {
            self.checked = start;
            let area = even(monitor_rect(&self.monitor)?);
            if area != self.area {
                tracing::info!("the monitor changed: now {}x{} at {},{}", area.2, area.3, area.0, area.1);
                self.surface = Surface::new(area.2, area.3)?;
                self.area = area;
            }
        }
        if fault_injected() {
            return Err(CaptureError::Screen("PEERDESK_FAULT_DESKTOP_AWAY is there".into()));
        }
        let (x, y, w, h) = self.area;
        let mut data = vec![0u8; w as usize * h as usize * 4];
        self.surface.grab(x, y, &mut data)?;
        Ok(Frame {
            width: w,
            height: h,
            stride: w as usize * 4,
            data,
            captured_at: start,
            capture_time: start.elapsed(),
        })
    }
}
