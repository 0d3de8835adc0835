//! X11 capture: MIT-SHM `GetImage` of the chosen RandR monitor, paced by XDamage.
//!
//! The shared segment is an unlinked file handed to the server with `ShmAttachFd`; after each
//! `ShmGetImage` the pixels are read back with `pread` into the frame (a copy the frame needs
//! anyway), so no memory mapping and no `unsafe` code is involved. Without MIT-SHM the plain
//! `GetImage` request is used, with a warning (it is many times slower).

use std::fs::File;
use std::hash::BuildHasher;
use std::os::unix::fs::FileExt;
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags, Timespec, poll};
use tracing::{debug, info, warn};
use x11rb::connection::{Connection, RequestConnection};
use x11rb::protocol::Event;
use x11rb::protocol::damage::{self, ConnectionExt as _};
use x11rb::protocol::randr::{self, ConnectionExt as _};
use x11rb::protocol::shm::{self, ConnectionExt as _};
use x11rb::protocol::xproto::{self, ConnectionExt as _, ImageFormat, ImageOrder};
use x11rb::rust_connection::RustConnection;

use crate::platform::{DisplayInfo, MonitorChoice, MonitorInfo};
use crate::{CaptureError, Capturer, Frame};

/// Longest time without a new frame while the screen is idle: a repeat keeps late joiners and
/// the browser's freeze detection happy at almost no cost.
const IDLE_REPEAT: Duration = Duration::from_secs(1);

fn display_name(display: Option<&str>) -> Result<String, CaptureError> {
    match display {
        Some(d) => Ok(d.to_owned()),
        None => std::env::var("DISPLAY").ok().filter(|d| !d.is_empty()).ok_or(CaptureError::NoDisplay),
    }
}

fn connect(display: Option<&str>) -> Result<(RustConnection, usize, String), CaptureError> {
    let name = display_name(display)?;
    let (conn, screen) = RustConnection::connect(Some(&name))
        .map_err(|e| CaptureError::Open { display: name.clone(), why: e.to_string() })?;
    Ok((conn, screen, name))
}

fn lost(e: impl std::fmt::Display) -> CaptureError {
    CaptureError::Lost(e.to_string())
}

fn has_extension(conn: &RustConnection, name: &'static str) -> Result<bool, CaptureError> {
    Ok(conn.extension_information(name).map_err(lost)?.is_some())
}

fn monitors(conn: &RustConnection, root: xproto::Window) -> Result<Vec<MonitorInfo>, CaptureError> {
    if !has_extension(conn, randr::X11_EXTENSION_NAME)? {
        return Ok(Vec::new());
    }
    let reply = conn.randr_get_monitors(root, true).map_err(lost)?.reply().map_err(lost)?;
    let mut out = Vec::new();
    for m in reply.monitors {
        let name = conn
            .get_atom_name(m.name)
            .map_err(lost)?
            .reply()
            .map(|r| String::from_utf8_lossy(&r.name).into_owned())
            .unwrap_or_else(|_| format!("monitor-{}", out.len()));
        out.push(MonitorInfo {
            name,
            x: i32::from(m.x),
            y: i32::from(m.y),
            width: u32::from(m.width),
            height: u32::from(m.height),
            primary: m.primary,
        });
    }
    Ok(out)
}

/// The rectangle (x, y, width, height) of `choice` on the screen of `root`.
pub fn monitor_rect(
    conn: &RustConnection,
    root: xproto::Window,
    choice: &MonitorChoice,
) -> Result<(i16, i16, u16, u16), CaptureError> {
    let geometry = conn.get_geometry(root).map_err(lost)?.reply().map_err(lost)?;
    let list = monitors(conn, root)?;
    Ok(match crate::platform::pick_monitor(&list, choice)? {
        None => (0, 0, geometry.width, geometry.height),
        Some(m) => (
            i16::try_from(m.x).unwrap_or(0),
            i16::try_from(m.y).unwrap_or(0),
            u16::try_from(m.width).unwrap_or(u16::MAX),
            u16::try_from(m.height).unwrap_or(u16::MAX),
        ),
    })
}

/// Lists a display's size and monitors.
pub fn list_x11(display: Option<&str>) -> Result<DisplayInfo, CaptureError> {
    let (conn, screen, name) = connect(display)?;
    let root = &conn.setup().roots[screen];
    Ok(DisplayInfo {
        name,
        width: u32::from(root.width_in_pixels),
        height: u32::from(root.height_in_pixels),
        monitors: monitors(&conn, root.root)?,
    })
}

/// Opens an X11 capturer on `display` (default `$DISPLAY`) for `monitor`.
pub fn open_x11(display: Option<&str>, monitor: &MonitorChoice) -> Result<Box<dyn Capturer>, CaptureError> {
    Ok(Box::new(X11Capturer::open(display, monitor.clone())?))
}

/// The part of the screen being captured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Area {
    x: i16,
    y: i16,
    width: u16,
    height: u16,
}

struct ShmSegment {
    seg: shm::Seg,
    file: File,
    size: usize,
}

/// Captures one monitor (or the whole screen) of an X display.
pub struct X11Capturer {
    conn: RustConnection,
    root: xproto::Window,
    monitor: MonitorChoice,
    area: Area,
    shm: Option<ShmSegment>,
    damage: Option<damage::Damage>,
    dirty: bool,
    last: Option<Instant>,
    min_interval: Duration,
    /// The frame-rate limit, as a generic cell rate algorithm: when the next capture is due
    /// on the average (see `next_frame`).
    due: Option<Instant>,
}

impl std::fmt::Debug for X11Capturer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("X11Capturer").field("area", &self.area).field("shm", &self.shm.is_some()).finish()
    }
}

impl X11Capturer {
    /// Connects and prepares capture of `monitor`.
    pub fn open(display: Option<&str>, monitor: MonitorChoice) -> Result<Self, CaptureError> {
        let (conn, screen, name) = connect(display)?;
        let setup = conn.setup();
        let root = setup.roots[screen].root;
        let depth = setup.roots[screen].root_depth;
        let bpp = setup.pixmap_formats.iter().find(|f| f.depth == depth).map(|f| f.bits_per_pixel);
        if depth < 24 || bpp != Some(32) || setup.image_byte_order != ImageOrder::LSB_FIRST {
            return Err(CaptureError::Unsupported("only 24/32-bit little-endian X screens are supported"));
        }
        let mut capturer = Self {
            conn,
            root,
            monitor,
            area: Area { x: 0, y: 0, width: 0, height: 0 },
            shm: None,
            damage: None,
            dirty: true,
            last: None,
            min_interval: Duration::from_millis(1),
            due: None,
        };
        capturer.area = capturer.find_area()?;
        capturer.setup_shm()?;
        capturer.setup_events()?;
        info!(
            display = %name,
            "capturing {}x{} at +{}+{} ({}, {})",
            capturer.area.width,
            capturer.area.height,
            capturer.area.x,
            capturer.area.y,
            if capturer.shm.is_some() { "MIT-SHM" } else { "GetImage" },
            if capturer.damage.is_some() { "XDamage" } else { "polling" },
        );
        Ok(capturer)
    }

    /// Whether the fast MIT-SHM path is in use (else plain `GetImage`).
    pub fn uses_shm(&self) -> bool {
        self.shm.is_some()
    }

    /// Whether XDamage paces capture (else a timer does).
    pub fn uses_damage(&self) -> bool {
        self.damage.is_some()
    }

    fn find_area(&self) -> Result<Area, CaptureError> {
        let (x, y, width, height) = monitor_rect(&self.conn, self.root, &self.monitor)?;
        // 4:2:0 video needs even sizes: leave out a last odd row or column.
        Ok(Area { x, y, width: width & !1, height: height & !1 })
    }

    fn setup_shm(&mut self) -> Result<(), CaptureError> {
        if let Some(old) = self.shm.take() {
            let _ = self.conn.shm_detach(old.seg);
        }
        if !has_extension(&self.conn, shm::X11_EXTENSION_NAME)? {
            warn!("the X server has no MIT-SHM: falling back to GetImage, which is much slower");
            return Ok(());
        }
        let size = usize::from(self.area.width) * usize::from(self.area.height) * 4;
        match self.attach_segment(size) {
            Ok(seg) => self.shm = Some(seg),
            Err(e) => warn!("cannot set up MIT-SHM ({e}): falling back to GetImage, which is much slower"),
        }
        Ok(())
    }

    fn attach_segment(&self, size: usize) -> Result<ShmSegment, String> {
        use std::os::unix::fs::OpenOptionsExt;
        // The file holds screen contents: only this user may open it (0600), it must be new
        // (never a file or link someone placed there), and it is unlinked at once, so only the
        // X server (through the fd we pass) and this process can ever see it.
        let dir =
            ["/dev/shm", "/tmp"].into_iter().find(|d| std::path::Path::new(d).is_dir()).unwrap_or("/tmp");
        let nonce = std::collections::hash_map::RandomState::new().hash_one((
            std::process::id(),
            size,
            Instant::now(),
        ));
        let path =
            std::path::Path::new(dir).join(format!("peerdesk-shm-{}-{nonce:016x}", std::process::id()));
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let _ = std::fs::remove_file(&path);
        file.set_len(size as u64).map_err(|e| e.to_string())?;
        let fd = file.try_clone().map_err(|e| e.to_string())?;
        let seg = self.conn.generate_id().map_err(|e| e.to_string())?;
        self.conn
            .shm_attach_fd(seg, fd, false)
            .map_err(|e| e.to_string())?
            .check()
            .map_err(|e| e.to_string())?;
        Ok(ShmSegment { seg, file, size })
    }

    fn setup_events(&mut self) -> Result<(), CaptureError> {
        if has_extension(&self.conn, randr::X11_EXTENSION_NAME)? {
            self.conn.randr_select_input(self.root, randr::NotifyMask::SCREEN_CHANGE).map_err(lost)?;
        }
        if has_extension(&self.conn, damage::X11_EXTENSION_NAME)? {
            self.conn.damage_query_version(1, 1).map_err(lost)?.reply().map_err(lost)?;
            let id = self.conn.generate_id().map_err(lost)?;
            self.conn.damage_create(id, self.root, damage::ReportLevel::NON_EMPTY).map_err(lost)?;
            // A new damage object starts out damaged; clear it and the notify it caused, so the
            // first capture (which is due anyway) is not followed by a needless second one.
            self.conn.damage_subtract(id, x11rb::NONE, x11rb::NONE).map_err(lost)?;
            self.conn.get_input_focus().map_err(lost)?.reply().map_err(lost)?;
            while self.conn.poll_for_event().map_err(lost)?.is_some() {}
            self.damage = Some(id);
        } else {
            warn!("the X server has no DAMAGE extension: capturing on a timer");
        }
        self.conn.flush().map_err(lost)?;
        Ok(())
    }

    /// Handles queued X events; waits for one until `until` when `wait` is set.
    fn pump_events(&mut self, until: Option<Instant>) -> Result<(), CaptureError> {
        let mut resized = false;
        loop {
            let event = match self.conn.poll_for_event().map_err(lost)? {
                Some(e) => e,
                None => {
                    let Some(until) = until.filter(|_| !self.dirty && !resized) else { break };
                    let left = until.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        break;
                    }
                    let timeout = Timespec::try_from(left).unwrap_or(Timespec { tv_sec: 1, tv_nsec: 0 });
                    let mut fds = [PollFd::new(self.conn.stream(), PollFlags::IN)];
                    poll(&mut fds, Some(&timeout)).map_err(lost)?;
                    continue;
                }
            };
            match event {
                Event::DamageNotify(_) => self.dirty = true,
                Event::RandrScreenChangeNotify(_) => resized = true,
                Event::Error(e) => debug!("X error event: {e:?}"),
                _ => {}
            }
        }
        if let Some(d) = self.damage.filter(|_| self.dirty) {
            self.conn.damage_subtract(d, x11rb::NONE, x11rb::NONE).map_err(lost)?;
            self.conn.flush().map_err(lost)?;
        }
        if resized {
            let area = self.find_area()?;
            if area != self.area {
                info!("screen changed: now capturing {}x{}", area.width, area.height);
                self.area = area;
                self.setup_shm()?;
            }
            self.dirty = true;
        }
        Ok(())
    }

    fn grab(&mut self) -> Result<Frame, CaptureError> {
        let started = Instant::now();
        let Area { x, y, width, height } = self.area;
        let stride = usize::from(width) * 4;
        let data = match &self.shm {
            Some(seg) => {
                self.conn
                    .shm_get_image(
                        self.root,
                        x,
                        y,
                        width,
                        height,
                        !0,
                        ImageFormat::Z_PIXMAP.into(),
                        seg.seg,
                        0,
                    )
                    .map_err(lost)?
                    .reply()
                    .map_err(lost)?;
                let mut data = vec![0u8; stride * usize::from(height)];
                debug_assert!(data.len() <= seg.size);
                seg.file.read_exact_at(&mut data, 0).map_err(lost)?;
                data
            }
            None => {
                let reply = self
                    .conn
                    .get_image(ImageFormat::Z_PIXMAP, self.root, x, y, width, height, !0)
                    .map_err(lost)?
                    .reply()
                    .map_err(lost)?;
                reply.data
            }
        };
        if data.len() < stride * usize::from(height) {
            return Err(CaptureError::Lost("the X server returned a short image".into()));
        }
        Ok(Frame {
            width: u32::from(width),
            height: u32::from(height),
            stride,
            data,
            captured_at: started,
            capture_time: started.elapsed(),
        })
    }
}

impl Capturer for X11Capturer {
    fn size(&self) -> (u32, u32) {
        (u32::from(self.area.width), u32::from(self.area.height))
    }

    fn set_min_interval(&mut self, interval: Duration) {
        self.min_interval = interval;
    }

    fn next_frame(&mut self, deadline: Instant) -> Result<Option<Frame>, CaptureError> {
        // First a reason to capture: damage, the idle repeat, or (without XDamage) every call.
        let repeat_at = self.last.map_or_else(Instant::now, |l| l + IDLE_REPEAT);
        if self.damage.is_some() && !self.dirty {
            self.pump_events(Some(repeat_at.min(deadline)))?;
        } else {
            self.pump_events(None)?;
        }
        if !(self.dirty || self.damage.is_none() || Instant::now() >= repeat_at) {
            return Ok(None);
        }
        // Then the frame-rate limit: never more often than the frame rate on the average, but
        // without a phase of its own. A fixed minimum gap after each capture locks onto a phase
        // and can add nearly a frame period to every picture of a screen that changes 60 times a
        // second; here a change may be taken up to half a period before it is due, as long as the
        // average holds (generic cell rate algorithm). Polling (no XDamage) keeps the plain
        // period.
        if let Some(due) = self.due {
            let slack = if self.damage.is_some() { self.min_interval / 2 } else { Duration::ZERO };
            let earliest = due.checked_sub(slack).unwrap_or(due);
            if earliest > deadline {
                // Still dirty: the next call captures.
                return Ok(None);
            }
            let now = Instant::now();
            if earliest > now {
                std::thread::sleep(earliest - now);
            }
        }
        self.dirty = false;
        let frame = self.grab()?;
        self.last = Some(frame.captured_at);
        self.due = Some(self.due.map_or(frame.captured_at, |d| d.max(frame.captured_at)) + self.min_interval);
        Ok(Some(frame))
    }
}

/// Reports the cursor's shape and its position inside the area of `monitor` (see
/// [`CursorEvent`](crate::CursorEvent)): both at once, then whenever they change, until the
/// display goes away (then returns the reason). Runs on the caller's thread: give it one of its
/// own.
///
/// Nothing is polled: shapes come from XFixes cursor notifications, moves from XInput 2 raw
/// motion events (every pointer device and XTest), and the area from RandR notifications. A burst
/// of events is drained before one query, so a 1000 Hz mouse costs one position per wake-up.
/// Without XInput 2 only shapes are reported. A pointer warped by a program (no device motion)
/// is seen at the next move or shape change.
pub fn watch_cursor(
    display: Option<&str>,
    monitor: &MonitorChoice,
    mut on_event: impl FnMut(crate::CursorEvent),
) -> Result<(), CaptureError> {
    use x11rb::protocol::xfixes::{self, ConnectionExt as _};
    use x11rb::protocol::xinput::{self, ConnectionExt as _};
    let (conn, screen, _) = connect(display)?;
    if !has_extension(&conn, xfixes::X11_EXTENSION_NAME)? {
        return Err(CaptureError::MissingExtension("XFIXES"));
    }
    conn.xfixes_query_version(4, 0).map_err(lost)?.reply().map_err(lost)?;
    let root = conn.setup().roots[screen].root;
    conn.xfixes_select_cursor_input(root, xfixes::CursorNotifyMask::DISPLAY_CURSOR).map_err(lost)?;
    let follows_moves = has_extension(&conn, xinput::X11_EXTENSION_NAME)?
        && conn.xinput_xi_query_version(2, 0).map_err(lost)?.reply().is_ok_and(|v| v.major_version >= 2);
    if follows_moves {
        let mask = xinput::EventMask {
            deviceid: u16::from(bool::from(xinput::Device::ALL_MASTER)),
            mask: vec![xinput::XIEventMask::RAW_MOTION],
        };
        conn.xinput_xi_select_events(root, &[mask]).map_err(lost)?;
    } else {
        warn!("the X server has no XInput 2: the cursor's position is not sent, only its shape");
    }
    if has_extension(&conn, randr::X11_EXTENSION_NAME)? {
        conn.randr_select_input(root, randr::NotifyMask::SCREEN_CHANGE).map_err(lost)?;
    }
    let mut area = monitor_rect(&conn, root, monitor)?;
    let mut last_serial = None;
    let mut last_position = None;
    let (mut shape, mut moved) = (true, true);
    loop {
        if shape {
            let img = conn.xfixes_get_cursor_image().map_err(lost)?.reply().map_err(lost)?;
            if last_serial != Some(img.cursor_serial) {
                last_serial = Some(img.cursor_serial);
                on_event(crate::CursorEvent::Shape(crate::CursorImage::from_argb_premultiplied(
                    img.cursor_serial,
                    (img.width, img.height),
                    (img.xhot, img.yhot),
                    &img.cursor_image,
                )));
            }
        }
        if moved {
            let pointer = conn.query_pointer(root).map_err(lost)?.reply().map_err(lost)?;
            let (x0, y0, width, height) = area;
            let position = crate::CursorPosition {
                x: i32::from(pointer.root_x) - i32::from(x0),
                y: i32::from(pointer.root_y) - i32::from(y0),
                width: u32::from(width),
                height: u32::from(height),
            };
            if last_position != Some(position) {
                last_position = Some(position);
                on_event(crate::CursorEvent::Position(position));
            }
        }
        // Sleep in the X connection until something happens, then take everything queued.
        (shape, moved) = (false, false);
        let mut event = Some(conn.wait_for_event().map_err(lost)?);
        while let Some(e) = event {
            match e {
                Event::XfixesCursorNotify(_) => {
                    shape = true;
                    moved = true;
                }
                Event::XinputRawMotion(_) => moved = true,
                Event::RandrScreenChangeNotify(_) => {
                    area = monitor_rect(&conn, root, monitor)?;
                    moved = true;
                }
                _ => {}
            }
            event = conn.poll_for_event().map_err(lost)?;
        }
    }
}
