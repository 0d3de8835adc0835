//! Input on X11 through the XTEST extension: physical keycodes, absolute and relative pointer,
//! buttons 1-9 (wheel as buttons 4-7).

use std::collections::{HashMap, HashSet};

use peerdesk_capture::MonitorChoice;
use peerdesk_capture::platform::monitor_rect;
use peerdesk_proto::input::MouseButton;
use peerdesk_proto::{InputEvent, PeerId};
use tracing::{debug, warn};
use x11rb::connection::{Connection, RequestConnection};
use x11rb::protocol::Event;
use x11rb::protocol::randr::{self, ConnectionExt as _};
use x11rb::protocol::xproto::{self, ConnectionExt as _};
use x11rb::protocol::xtest::{self, ConnectionExt as _};
use x11rb::rust_connection::RustConnection;

use crate::keymap::x_keycode;
use crate::{InputError, InputSink};

const WHEEL_STEP: i32 = 120;
/// Keycodes borrowed at most for typing text without a physical key.
const SPARE_KEYCODES: usize = 8;

/// Opens an XTest injector on `display` (default `$DISPLAY`), mapping pointer positions onto
/// `monitor`.
pub fn open_xtest(display: Option<&str>, monitor: &MonitorChoice) -> Result<Box<dyn InputSink>, InputError> {
    Ok(Box::new(XTestSink::open(display, monitor.clone())?))
}

#[derive(Debug, Default)]
struct Held {
    keys: HashSet<u8>,
    buttons: HashSet<u8>,
    wheel: (i32, i32),
}

/// Injects viewers' input into an X display.
pub struct XTestSink {
    conn: RustConnection,
    root: xproto::Window,
    monitor: MonitorChoice,
    area: (i16, i16, u16, u16),
    held: HashMap<PeerId, Held>,
    spare: SpareKeycodes,
}

/// Keycodes with no keysym, lent to characters the keyboard layout cannot type. A mapping is
/// kept until its keycode is needed again (least recently assigned first), so clients that
/// re-read the keymap after our key events still see the character.
#[derive(Debug, Default)]
struct SpareKeycodes {
    codes: Vec<u8>,
    next: usize,
    assigned: HashMap<u32, u8>,
}

impl std::fmt::Debug for XTestSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XTestSink").field("area", &self.area).finish_non_exhaustive()
    }
}

fn conn_err(e: impl std::fmt::Display) -> InputError {
    InputError::Connection(e.to_string())
}

impl XTestSink {
    /// Connects to the display and checks for XTEST.
    pub fn open(display: Option<&str>, monitor: MonitorChoice) -> Result<Self, InputError> {
        let (conn, screen) = super::connect(display)?;
        if conn.extension_information(xtest::X11_EXTENSION_NAME).map_err(conn_err)?.is_none() {
            return Err(InputError::NoXTest);
        }
        conn.xtest_get_version(2, 2).map_err(conn_err)?.reply().map_err(conn_err)?;
        let root = conn.setup().roots[screen].root;
        if conn.extension_information(randr::X11_EXTENSION_NAME).map_err(conn_err)?.is_some() {
            conn.randr_select_input(root, randr::NotifyMask::SCREEN_CHANGE).map_err(conn_err)?;
        }
        let area = monitor_rect(&conn, root, &monitor).map_err(conn_err)?;
        let spare = SpareKeycodes { codes: spare_keycodes(&conn)?, ..SpareKeycodes::default() };
        Ok(Self { conn, root, monitor, area, held: HashMap::new(), spare })
    }

    /// Follows screen changes (xrandr) so positions keep landing on the right pixel.
    fn pump_events(&mut self) {
        let mut changed = false;
        while let Ok(Some(event)) = self.conn.poll_for_event() {
            if matches!(event, Event::RandrScreenChangeNotify(_)) {
                changed = true;
            }
        }
        if changed {
            match monitor_rect(&self.conn, self.root, &self.monitor) {
                Ok(area) => {
                    debug!(?area, "screen changed; pointer positions follow");
                    self.area = area;
                }
                Err(e) => warn!("cannot read the new screen layout: {e}"),
            }
        }
    }

    fn fake(&self, kind: u8, detail: u8, x: i16, y: i16) {
        let window = if kind == xproto::MOTION_NOTIFY_EVENT && detail == 0 { self.root } else { x11rb::NONE };
        if let Err(e) = self.conn.xtest_fake_input(kind, detail, x11rb::CURRENT_TIME, window, x, y, 0) {
            warn!("XTest request failed: {e}");
        }
    }

    fn button(&mut self, peer: PeerId, button: u8, down: bool) {
        let held = self.held.entry(peer).or_default();
        let changed = if down { held.buttons.insert(button) } else { held.buttons.remove(&button) };
        if changed {
            let kind = if down { xproto::BUTTON_PRESS_EVENT } else { xproto::BUTTON_RELEASE_EVENT };
            self.fake(kind, button, 0, 0);
        }
    }

    /// Types `text` character by character through keycodes lent to each character's keysym.
    fn type_text(&mut self, text: &str) {
        for c in text.chars() {
            let keysym = char_keysym(c);
            let keycode = match self.spare.assigned.get(&keysym) {
                Some(&k) => k,
                None => {
                    let Some(&k) = self.spare.codes.get(self.spare.next % self.spare.codes.len().max(1))
                    else {
                        warn!("cannot type {c:?}: the keyboard map has no free keycode to lend");
                        return;
                    };
                    self.spare.next += 1;
                    self.spare.assigned.retain(|_, code| *code != k);
                    if let Err(e) = self.conn.change_keyboard_mapping(1, k, 2, &[keysym, keysym]) {
                        warn!("cannot type {c:?}: {e}");
                        return;
                    }
                    self.spare.assigned.insert(keysym, k);
                    k
                }
            };
            self.fake(xproto::KEY_PRESS_EVENT, keycode, 0, 0);
            self.fake(xproto::KEY_RELEASE_EVENT, keycode, 0, 0);
        }
    }

    fn click(&self, button: u8, times: i32) {
        for _ in 0..times.min(64) {
            self.fake(xproto::BUTTON_PRESS_EVENT, button, 0, 0);
            self.fake(xproto::BUTTON_RELEASE_EVENT, button, 0, 0);
        }
    }
}

fn x_button(b: MouseButton) -> u8 {
    match b {
        MouseButton::Left => 1,
        MouseButton::Middle => 2,
        MouseButton::Right => 3,
        MouseButton::Back => 8,
        MouseButton::Forward => 9,
    }
}

/// The keysym of a character: Latin-1 keysyms equal their code point, the rest are
/// `0x0100_0000 + code point` (X11 keysym encoding of Unicode).
pub(super) fn char_keysym(c: char) -> u32 {
    let cp = u32::from(c);
    if (0x20..=0x7e).contains(&cp) || (0xa0..=0xff).contains(&cp) { cp } else { 0x0100_0000 | cp }
}

/// Up to [`SPARE_KEYCODES`] keycodes that have no keysym, highest first.
fn spare_keycodes(conn: &RustConnection) -> Result<Vec<u8>, InputError> {
    let setup = conn.setup();
    let (min, max) = (setup.min_keycode, setup.max_keycode);
    let map = conn.get_keyboard_mapping(min, max - min + 1).map_err(conn_err)?.reply().map_err(conn_err)?;
    let per = usize::from(map.keysyms_per_keycode).max(1);
    let mut free: Vec<u8> = map
        .keysyms
        .chunks(per)
        .zip(min..=max)
        .filter(|(syms, _)| syms.iter().all(|&s| s == 0))
        .map(|(_, code)| code)
        .collect();
    free.reverse();
    free.truncate(SPARE_KEYCODES);
    Ok(free)
}

/// Maps a position on the wire's 0..65536 scale onto `len` pixels starting at `origin`.
fn to_pixel(v: u16, origin: i16, len: u16) -> i16 {
    let offset = (u32::from(v) * u32::from(len)) >> 16;
    i16::try_from(i32::from(origin) + offset as i32).unwrap_or(i16::MAX)
}

impl InputSink for XTestSink {
    fn handle(&mut self, peer: PeerId, event: &InputEvent) {
        self.pump_events();
        match event {
            InputEvent::PointerMove { x, y } => {
                let (ox, oy, w, h) = self.area;
                self.fake(xproto::MOTION_NOTIFY_EVENT, 0, to_pixel(*x, ox, w), to_pixel(*y, oy, h));
            }
            InputEvent::PointerRelative { dx, dy } => self.fake(xproto::MOTION_NOTIFY_EVENT, 1, *dx, *dy),
            InputEvent::Button { button, down } => self.button(peer, x_button(*button), *down),
            InputEvent::Wheel { dx, dy } => {
                let held = self.held.entry(peer).or_default();
                held.wheel.0 += i32::from(*dx);
                held.wheel.1 += i32::from(*dy);
                let (sx, sy) = (held.wheel.0 / WHEEL_STEP, held.wheel.1 / WHEEL_STEP);
                held.wheel.0 -= sx * WHEEL_STEP;
                held.wheel.1 -= sy * WHEEL_STEP;
                // X: 4 up, 5 down, 6 left, 7 right.
                self.click(if sy < 0 { 4 } else { 5 }, sy.abs());
                self.click(if sx < 0 { 6 } else { 7 }, sx.abs());
            }
            InputEvent::Key { code, down } => {
                let Some(keycode) = x_keycode(code) else {
                    debug!(%code, "no X keycode for this key; ignored");
                    return;
                };
                let held = self.held.entry(peer).or_default();
                if *down {
                    // A key already held is the browser's auto-repeat. Send it as release+press,
                    // as X's own auto-repeat does: each fresh press restarts the server's repeat
                    // delay, so the server never repeats on top of the browser (no doubling).
                    if !held.keys.insert(keycode) {
                        self.fake(xproto::KEY_RELEASE_EVENT, keycode, 0, 0);
                    }
                    self.fake(xproto::KEY_PRESS_EVENT, keycode, 0, 0);
                } else if held.keys.remove(&keycode) {
                    self.fake(xproto::KEY_RELEASE_EVENT, keycode, 0, 0);
                }
            }
            InputEvent::ReleaseAll => self.release(peer),
            InputEvent::Text { text } => self.type_text(text),
            // Pads are virtual devices of their own (`gamepad`), never X events.
            InputEvent::Gamepad { .. } | InputEvent::GamepadRemoved { .. } => {}
        }
        if let Err(e) = self.conn.flush() {
            warn!("lost the X display while injecting input: {e}");
        }
    }

    fn release(&mut self, peer: PeerId) {
        let Some(held) = self.held.remove(&peer) else { return };
        for k in held.keys {
            self.fake(xproto::KEY_RELEASE_EVENT, k, 0, 0);
        }
        for b in held.buttons {
            self.fake(xproto::BUTTON_RELEASE_EVENT, b, 0, 0);
        }
        let _ = self.conn.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::to_pixel;

    #[test]
    fn keysyms_of_characters() {
        assert_eq!(super::char_keysym('a'), 0x61);
        assert_eq!(super::char_keysym('é'), 0xe9);
        assert_eq!(super::char_keysym('€'), 0x0100_20ac);
    }

    #[test]
    fn wire_positions_land_on_pixels() {
        assert_eq!(to_pixel(0, 0, 1920), 0);
        assert_eq!(to_pixel(65535, 0, 1920), 1919);
        assert_eq!(to_pixel(32768, 100, 1000), 600);
        // Every pixel of a 1920-wide monitor is reachable: the centre of pixel p maps back to p.
        for p in 0..1920u32 {
            let v = (((p as f64 + 0.5) / 1920.0) * 65536.0) as u16;
            assert_eq!(to_pixel(v, 0, 1920), p as i16);
        }
    }
}
