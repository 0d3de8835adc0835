//! The Windows cursor, followed apart from the picture (GDI's copy of the screen has no
//! cursor in it): `GetCursorInfo` says which cursor shows and where, `GetIconInfo` and
//! `GetDIBits` read a new shape. Windows tells nobody outside the foreground program when the
//! cursor changes, so this thread looks 125 times a second (a few microseconds each); a shape
//! is read only when the cursor handle changes. A hidden cursor (games hide it) is sent as an
//! invisible one; a shape that cannot be read (Wine reads no other program's cursor) as the
//! arrow.

#![allow(unsafe_code)]

use std::time::{Duration, Instant};

use windows_sys::Win32::Graphics::Gdi::{
    BITMAP, DIB_RGB_COLORS, DeleteObject, GetDC, GetDIBits, GetObjectW, HBITMAP, ReleaseDC,
};
use windows_sys::Win32::UI::WindowsAndMessaging::{
    CURSOR_SHOWING, CURSORINFO, GetCursorInfo, GetIconInfo, HCURSOR, ICONINFO, IDC_ARROW, LoadCursorW,
};

use crate::platform::MonitorChoice;
use crate::{CaptureError, CursorEvent, CursorImage, CursorPosition};

/// How often the cursor is looked at.
const PERIOD: Duration = Duration::from_millis(8);
/// How often the captured area is looked up again (monitor changes).
const RECHECK: Duration = Duration::from_secs(1);
/// The largest cursor read (Windows' accessibility sizes go up to 256x256).
const LARGEST: i32 = 256;

/// Reports the cursor's shape and its position on `monitor`'s area until `on_event`'s thread
/// ends. Runs while the desktop is away (locked, a UAC prompt): nothing is reported then, and
/// it picks up when the desktop comes back.
pub fn watch_cursor(
    _display: Option<&str>,
    monitor: &MonitorChoice,
    mut on_event: impl FnMut(CursorEvent),
) -> Result<(), CaptureError> {
    let mut area = super::monitor_rect(monitor)?;
    let mut checked = Instant::now();
    let mut last_handle: Option<HCURSOR> = None;
    let mut last_position = None;
    let mut serial = 0u32;
    let mut unreadable_said = false;
    loop {
        std::thread::sleep(PERIOD);
        if checked.elapsed() >= RECHECK {
            checked = Instant::now();
            if let Ok(now) = super::monitor_rect(monitor) {
                area = now;
            }
        }
        // SAFETY: an all-zero CURSORINFO is valid; cbSize is set as the API asks and
        // GetCursorInfo writes only within the struct.
        let mut info: CURSORINFO = unsafe { std::mem::zeroed() };
        info.cbSize = std::mem::size_of::<CURSORINFO>() as u32;
        // SAFETY: `info` is a valid, sized CURSORINFO.
        if unsafe { GetCursorInfo(&raw mut info) } == 0 {
            // Another desktop has the input (secure desktop): look again later.
            continue;
        }
        let handle = if info.flags & CURSOR_SHOWING != 0 { info.hCursor } else { std::ptr::null_mut() };
        if last_handle != Some(handle) {
            last_handle = Some(handle);
            serial = serial.wrapping_add(1);
            let image = if handle.is_null() {
                hidden(serial)
            } else {
                read_shape(handle, serial).unwrap_or_else(|| {
                    // Windows reads any program's cursor; Wine only its own. Better an arrow
                    // than no cursor at all.
                    if !unreadable_said {
                        unreadable_said = true;
                        tracing::info!("cannot read the cursor's shape; viewers see an arrow for it");
                    }
                    arrow(serial)
                })
            };
            on_event(CursorEvent::Shape(image));
        }
        let (x0, y0, width, height) = area;
        let position =
            CursorPosition { x: info.ptScreenPos.x - x0, y: info.ptScreenPos.y - y0, width, height };
        if last_position != Some(position) {
            last_position = Some(position);
            on_event(CursorEvent::Position(position));
        }
    }
}

/// A cursor that shows nothing.
fn hidden(serial: u32) -> CursorImage {
    CursorImage { serial, width: 1, height: 1, hot_x: 0, hot_y: 0, rgba: vec![0; 4] }
}

/// The system's arrow, as this process loads it (always readable); hidden if even that fails.
fn arrow(serial: u32) -> CursorImage {
    // SAFETY: a null instance and a predefined id load a shared system cursor (not to be
    // destroyed); nothing is written.
    let handle = unsafe { LoadCursorW(std::ptr::null_mut(), IDC_ARROW) };
    if handle.is_null() { None } else { read_shape(handle, serial) }.unwrap_or_else(|| hidden(serial))
}

/// A bitmap of ours (from GetIconInfo), deleted when dropped.
struct Owned(HBITMAP);

impl Drop for Owned {
    fn drop(&mut self) {
        if !self.0.is_null() {
            // SAFETY: GetIconInfo made this bitmap for us; the caller must delete it.
            unsafe { DeleteObject(self.0) };
        }
    }
}

/// The cursor's shape, or `None` when its bitmaps cannot be read.
fn read_shape(cursor: HCURSOR, serial: u32) -> Option<CursorImage> {
    // SAFETY: an all-zero ICONINFO is valid; GetIconInfo fills it for a cursor handle.
    let mut icon: ICONINFO = unsafe { std::mem::zeroed() };
    // SAFETY: `cursor` came from GetCursorInfo; `icon` is a valid ICONINFO.
    if unsafe { GetIconInfo(cursor, &raw mut icon) } == 0 {
        return None;
    }
    let (mask, color) = (Owned(icon.hbmMask), Owned(icon.hbmColor));
    let hot = (u16::try_from(icon.xHotspot).ok()?, u16::try_from(icon.yHotspot).ok()?);
    let (mask_w, mask_h, mask_bits) = read_bitmap(&mask)?;
    if color.0.is_null() {
        // Monochrome: the mask holds the AND and the XOR halves.
        let (w, h) = (u16::try_from(mask_w).ok()?, u16::try_from(mask_h / 2).ok()?);
        return Some(CursorImage::from_windows_mono(serial, (w, h), hot, &mask_bits));
    }
    let (w, h, bgra) = read_bitmap(&color)?;
    if (w, h) != (mask_w, mask_h) {
        return None;
    }
    Some(CursorImage::from_windows_color(
        serial,
        (u16::try_from(w).ok()?, u16::try_from(h).ok()?),
        hot,
        &bgra,
        &mask_bits,
    ))
}

/// A bitmap's pixels as 32-bit top-down rows (monochrome bits become black and white).
fn read_bitmap(bitmap: &Owned) -> Option<(i32, i32, Vec<u8>)> {
    // SAFETY: an all-zero BITMAP is valid; GetObjectW writes at most its size.
    let mut bm: BITMAP = unsafe { std::mem::zeroed() };
    // SAFETY: `bitmap.0` is a live bitmap of ours; `bm` is as large as we say.
    let got = unsafe { GetObjectW(bitmap.0, std::mem::size_of::<BITMAP>() as i32, (&raw mut bm).cast()) };
    let (w, h) = (bm.bmWidth, bm.bmHeight);
    if got == 0 || !(1..=LARGEST).contains(&w) || !(1..=2 * LARGEST).contains(&h) {
        return None;
    }
    let mut info = super::gdi::bgra_info(w, h);
    let mut out = vec![0u8; w as usize * h as usize * 4];
    // SAFETY: the screen DC is taken and released here; GetDIBits writes h rows of w * 4 bytes
    // (32 bpp, top-down, as the header asks) into `out`, which has exactly that length; the
    // bitmap is not selected into any DC.
    let rows = unsafe {
        let screen = GetDC(std::ptr::null_mut());
        if screen.is_null() {
            return None;
        }
        let rows =
            GetDIBits(screen, bitmap.0, 0, h as u32, out.as_mut_ptr().cast(), &raw mut info, DIB_RGB_COLORS);
        ReleaseDC(std::ptr::null_mut(), screen);
        rows
    };
    (rows == h).then_some((w, h, out))
}
