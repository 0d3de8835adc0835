//! One injector for every device that takes Linux evdev codes: the RemoteDesktop portal
//! (GNOME, KDE) and the wlroots virtual keyboard and pointer. It turns the wire's events into
//! evdev keys, buttons, pointer positions in the streamed area's pixels and wheel notches, and
//! keeps what each viewer holds so [`InputSink::release`] lets go of all of it.

use std::collections::{HashMap, HashSet};

use peerdesk_proto::input::MouseButton;
use peerdesk_proto::{InputEvent, PeerId};
use tracing::debug;

use crate::InputSink;
use crate::keymap::evdev_code;

/// Wheel units in one notch (the wire's, as the browser's `deltaMode` 0 lines are scaled).
const WHEEL_STEP: i32 = 120;
/// The most wheel notches one event turns (a hostile `dy` of 32767 is 273 notches).
const MAX_NOTCHES: i32 = 64;

/// What an evdev-speaking desktop can be told. Calls must not block for long: they run on the
/// host's input thread.
pub trait EvdevDevice: Send {
    /// The streamed area's size in the device's pointer coordinates (logical pixels).
    fn area(&self) -> (u32, u32);
    /// A key (`KEY_*`) went down or up.
    fn key(&mut self, code: u16, down: bool);
    /// A pointer button (`BTN_*`) went down or up.
    fn button(&mut self, code: u16, down: bool);
    /// The pointer is at (`x`, `y`) of the area.
    fn move_to(&mut self, x: f64, y: f64);
    /// The pointer moved by (`dx`, `dy`).
    fn move_by(&mut self, dx: f64, dy: f64);
    /// The wheel turned by whole notches, positive down and right.
    fn scroll(&mut self, notches_x: i32, notches_y: i32);
    /// Types `c`, a character with no physical key on the viewer's side; false if the device
    /// cannot.
    fn type_char(&mut self, c: char) -> bool;
}

/// `BTN_LEFT` and its neighbours.
pub fn evdev_button(b: MouseButton) -> u16 {
    match b {
        MouseButton::Left => 0x110,
        MouseButton::Right => 0x111,
        MouseButton::Middle => 0x112,
        MouseButton::Back => 0x113,
        MouseButton::Forward => 0x114,
    }
}

#[derive(Debug, Default)]
struct Held {
    keys: HashSet<u16>,
    buttons: HashSet<u16>,
    wheel: (i32, i32),
}

/// Viewers' input into an [`EvdevDevice`].
#[derive(Debug)]
pub struct EvdevSink<D> {
    device: D,
    held: HashMap<PeerId, Held>,
    told_text: bool,
}

impl<D: EvdevDevice> EvdevSink<D> {
    /// A sink that drives `device`.
    pub fn new(device: D) -> Self {
        Self { device, held: HashMap::new(), told_text: false }
    }

    /// The device (for tests).
    pub fn device(&self) -> &D {
        &self.device
    }
}

/// The pixel along `len` at wire position `v` (0..=65535), at the pixel's centre.
fn along(v: u16, len: u32) -> f64 {
    (f64::from(v) + 0.5) * f64::from(len) / 65536.0
}

impl<D: EvdevDevice> InputSink for EvdevSink<D> {
    fn handle(&mut self, peer: PeerId, event: &InputEvent) {
        match event {
            InputEvent::PointerMove { x, y } => {
                let (w, h) = self.device.area();
                self.device.move_to(along(*x, w), along(*y, h));
            }
            InputEvent::PointerRelative { dx, dy } => self.device.move_by(f64::from(*dx), f64::from(*dy)),
            InputEvent::Button { button, down } => {
                let code = evdev_button(*button);
                let held = self.held.entry(peer).or_default();
                let changed = if *down { held.buttons.insert(code) } else { held.buttons.remove(&code) };
                if changed {
                    self.device.button(code, *down);
                }
            }
            InputEvent::Wheel { dx, dy } => {
                let held = self.held.entry(peer).or_default();
                held.wheel.0 += i32::from(*dx);
                held.wheel.1 += i32::from(*dy);
                let (nx, ny) = (held.wheel.0 / WHEEL_STEP, held.wheel.1 / WHEEL_STEP);
                held.wheel.0 -= nx * WHEEL_STEP;
                held.wheel.1 -= ny * WHEEL_STEP;
                if nx != 0 || ny != 0 {
                    self.device
                        .scroll(nx.clamp(-MAX_NOTCHES, MAX_NOTCHES), ny.clamp(-MAX_NOTCHES, MAX_NOTCHES));
                }
            }
            InputEvent::Key { code, down } => {
                let Some(key) = evdev_code(code) else {
                    debug!(%code, "no evdev code for this key; ignored");
                    return;
                };
                let held = self.held.entry(peer).or_default();
                if *down {
                    // A key already held is the browser's auto-repeat: release and press again,
                    // so the desktop's own repeat restarts rather than doubling the browser's.
                    if !held.keys.insert(key) {
                        self.device.key(key, false);
                    }
                    self.device.key(key, true);
                } else if held.keys.remove(&key) {
                    self.device.key(key, false);
                }
            }
            InputEvent::ReleaseAll => self.release(peer),
            InputEvent::Text { text } => {
                for c in text.chars() {
                    if !self.device.type_char(c) {
                        if !self.told_text {
                            self.told_text = true;
                            tracing::warn!(
                                "this desktop cannot type characters without a key; text input is ignored"
                            );
                        }
                        return;
                    }
                }
            }
            // Pads are virtual devices of their own (`gamepad`).
            InputEvent::Gamepad { .. } | InputEvent::GamepadRemoved { .. } => {}
        }
    }

    fn release(&mut self, peer: PeerId) {
        let Some(held) = self.held.remove(&peer) else { return };
        let mut keys: Vec<_> = held.keys.into_iter().collect();
        keys.sort_unstable();
        for k in keys {
            self.device.key(k, false);
        }
        let mut buttons: Vec<_> = held.buttons.into_iter().collect();
        buttons.sort_unstable();
        for b in buttons {
            self.device.button(b, false);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a device was told, in order.
    #[derive(Debug, Default)]
    struct Recorder {
        said: Vec<String>,
        text: bool,
    }

    impl EvdevDevice for Recorder {
        fn area(&self) -> (u32, u32) {
            (1280, 720)
        }
        fn key(&mut self, code: u16, down: bool) {
            self.said.push(format!("key {code} {down}"));
        }
        fn button(&mut self, code: u16, down: bool) {
            self.said.push(format!("button {code:#x} {down}"));
        }
        fn move_to(&mut self, x: f64, y: f64) {
            self.said.push(format!("to {x:.1} {y:.1}"));
        }
        fn move_by(&mut self, dx: f64, dy: f64) {
            self.said.push(format!("by {dx} {dy}"));
        }
        fn scroll(&mut self, x: i32, y: i32) {
            self.said.push(format!("scroll {x} {y}"));
        }
        fn type_char(&mut self, c: char) -> bool {
            self.said.push(format!("type {c}"));
            self.text
        }
    }

    fn key(code: &str, down: bool) -> InputEvent {
        InputEvent::Key { code: code.into(), down }
    }

    #[test]
    fn keys_buttons_and_positions_become_evdev_codes_and_pixels() {
        let mut sink = EvdevSink::new(Recorder::default());
        let (a, b) = (PeerId(1), PeerId(2));
        sink.handle(a, &InputEvent::PointerMove { x: 0, y: 65535 });
        sink.handle(a, &InputEvent::PointerMove { x: 32768, y: 32768 });
        sink.handle(a, &InputEvent::PointerRelative { dx: -3, dy: 4 });
        sink.handle(a, &InputEvent::Button { button: MouseButton::Left, down: true });
        sink.handle(a, &InputEvent::Button { button: MouseButton::Left, down: true });
        sink.handle(a, &InputEvent::Button { button: MouseButton::Left, down: false });
        sink.handle(a, &InputEvent::Button { button: MouseButton::Right, down: false });
        sink.handle(b, &key("KeyA", true));
        sink.handle(b, &key("KeyA", true));
        sink.handle(b, &key("KeyA", false));
        sink.handle(b, &key("KeyA", false));
        sink.handle(b, &key("NoSuchKey", true));
        assert_eq!(
            sink.device().said,
            [
                "to 0.0 720.0",
                "to 640.0 360.0",
                "by -3 4",
                "button 0x110 true",
                "button 0x110 false",
                // KEY_A is 30; the repeat is a release and a press.
                "key 30 true",
                "key 30 false",
                "key 30 true",
                "key 30 false",
            ]
        );
    }

    #[test]
    fn the_wheel_turns_in_whole_notches_and_a_huge_turn_is_bounded() {
        let mut sink = EvdevSink::new(Recorder::default());
        let p = PeerId(1);
        sink.handle(p, &InputEvent::Wheel { dx: 0, dy: 60 });
        sink.handle(p, &InputEvent::Wheel { dx: 0, dy: 60 });
        sink.handle(p, &InputEvent::Wheel { dx: -240, dy: -120 });
        sink.handle(p, &InputEvent::Wheel { dx: 0, dy: i16::MAX });
        assert_eq!(sink.device().said, ["scroll 0 1", "scroll -2 -1", "scroll 0 64"]);
    }

    #[test]
    fn a_viewer_leaving_lets_go_of_what_it_held_and_nothing_of_the_others() {
        let mut sink = EvdevSink::new(Recorder::default());
        let (a, b) = (PeerId(1), PeerId(2));
        sink.handle(a, &key("ShiftLeft", true));
        sink.handle(a, &key("KeyW", true));
        sink.handle(a, &InputEvent::Button { button: MouseButton::Middle, down: true });
        sink.handle(b, &key("KeyS", true));
        sink.release(a);
        sink.release(a);
        let said = &sink.device().said;
        let after: Vec<_> = said[4..].iter().map(String::as_str).collect();
        // KEY_W 17, KEY_LEFTSHIFT 42, BTN_MIDDLE.
        assert_eq!(after, ["key 17 false", "key 42 false", "button 0x112 false"]);
        sink.handle(b, &InputEvent::ReleaseAll);
        assert_eq!(sink.device().said.last().unwrap(), "key 31 false");
    }

    #[test]
    fn text_is_typed_where_the_device_can_and_dropped_once_where_it_cannot() {
        let mut sink = EvdevSink::new(Recorder { text: true, ..Default::default() });
        sink.handle(PeerId(1), &InputEvent::Text { text: "é€".into() });
        assert_eq!(sink.device().said, ["type é", "type €"]);
        let mut mute = EvdevSink::new(Recorder::default());
        mute.handle(PeerId(1), &InputEvent::Text { text: "ab".into() });
        assert_eq!(mute.device().said, ["type a"], "stops at the first it cannot type");
    }
}
