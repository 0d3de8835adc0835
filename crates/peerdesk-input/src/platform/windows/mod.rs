//! Windows injectors: `SendInput` with scan codes (physical keys, extended keys flagged),
//! absolute pointer over the virtual desktop (all monitors), relative motion, both wheels,
//! the five buttons, and text as Unicode; the clipboard (text); pads as virtual Xbox 360
//! controllers on ViGEmBus.

#![allow(unsafe_code)]

mod clipboard;
mod vigem;

pub use clipboard::{WindowsClipboard, open_clipboard};
pub use vigem::VigemBackend;

use std::collections::{HashMap, HashSet};

use peerdesk_capture::MonitorChoice;
use peerdesk_proto::input::MouseButton;
use peerdesk_proto::{InputEvent, PeerId};
use tracing::warn;
use windows_sys::Win32::UI::Input::KeyboardAndMouse::{
    INPUT, INPUT_0, INPUT_KEYBOARD, INPUT_MOUSE, KEYBDINPUT, KEYEVENTF_EXTENDEDKEY, KEYEVENTF_KEYUP,
    KEYEVENTF_SCANCODE, KEYEVENTF_UNICODE, MAPVK_VSC_TO_VK_EX, MOUSE_EVENT_FLAGS, MOUSEEVENTF_ABSOLUTE,
    MOUSEEVENTF_HWHEEL, MOUSEEVENTF_LEFTDOWN, MOUSEEVENTF_LEFTUP, MOUSEEVENTF_MIDDLEDOWN,
    MOUSEEVENTF_MIDDLEUP, MOUSEEVENTF_MOVE, MOUSEEVENTF_RIGHTDOWN, MOUSEEVENTF_RIGHTUP,
    MOUSEEVENTF_VIRTUALDESK, MOUSEEVENTF_WHEEL, MOUSEEVENTF_XDOWN, MOUSEEVENTF_XUP, MOUSEINPUT,
    MapVirtualKeyW, SendInput,
};
use windows_sys::Win32::UI::WindowsAndMessaging::{
    GetSystemMetrics, SM_CXVIRTUALSCREEN, SM_CYVIRTUALSCREEN, SM_XVIRTUALSCREEN, SM_YVIRTUALSCREEN,
};

use crate::desk::{Rect, to_pixel, to_virtual_desk};
use crate::keymap::{Scancode, scancode};
use crate::{InputError, InputSink};

/// `XBUTTON1` and `XBUTTON2` for `mouseData`.
const XBUTTON1: u32 = 1;
const XBUTTON2: u32 = 2;

/// No X11 on Windows.
pub fn open_xtest(
    _display: Option<&str>,
    _monitor: &MonitorChoice,
) -> Result<Box<dyn InputSink>, InputError> {
    Err(InputError::Unsupported("X11 input is only available on Linux; on Windows the host uses SendInput"))
}

/// Virtual gamepads: ViGEmBus.
pub fn open_pads() -> Result<Box<dyn crate::gamepad::PadBackend>, String> {
    VigemBackend::open().map(|b| Box::new(b) as Box<dyn crate::gamepad::PadBackend>)
}

/// Opens the `SendInput` injector, mapping pointer positions onto `monitor`.
pub fn open_sendinput(monitor: &MonitorChoice) -> Result<Box<dyn InputSink>, InputError> {
    Ok(Box::new(SendInputSink::open(monitor.clone())?))
}

#[derive(Debug, Default)]
struct Held {
    keys: HashSet<Scancode>,
    buttons: HashSet<MouseButton>,
}

/// Injects viewers' input into the interactive desktop.
#[derive(Debug)]
pub struct SendInputSink {
    monitor: MonitorChoice,
    area: Rect,
    held: HashMap<PeerId, Held>,
    /// Where the last absolute move put the pointer (virtual-desktop units); `None` after a
    /// relative one.
    pointer: Option<(i32, i32)>,
    /// When `area` was last looked up (a resolution or layout change moves it).
    checked: std::time::Instant,
    failed_once: bool,
}

fn virtual_desktop() -> Rect {
    // SAFETY: GetSystemMetrics takes a constant and only reads system state.
    let m = |i| unsafe { GetSystemMetrics(i) };
    (
        m(SM_XVIRTUALSCREEN),
        m(SM_YVIRTUALSCREEN),
        m(SM_CXVIRTUALSCREEN).max(1) as u32,
        m(SM_CYVIRTUALSCREEN).max(1) as u32,
    )
}

/// A key by its scan code. Windows ignores `wVk` when the scan code is given; Wine does not
/// (it would make every key virtual key 0), so it carries the layout's mapping too.
fn key_input(sc: Scancode, up: bool) -> INPUT {
    let mut flags = KEYEVENTF_SCANCODE;
    if sc.extended {
        flags |= KEYEVENTF_EXTENDEDKEY;
    }
    if up {
        flags |= KEYEVENTF_KEYUP;
    }
    let prefixed = u32::from(sc.code) | if sc.extended { 0xe000 } else { 0 };
    // SAFETY: MapVirtualKeyW takes two integers and only reads the keyboard layout.
    let vk = unsafe { MapVirtualKeyW(prefixed, MAPVK_VSC_TO_VK_EX) } as u16;
    INPUT {
        r#type: INPUT_KEYBOARD,
        Anonymous: INPUT_0 {
            ki: KEYBDINPUT { wVk: vk, wScan: sc.code, dwFlags: flags, time: 0, dwExtraInfo: 0 },
        },
    }
}

fn mouse_input(dx: i32, dy: i32, data: u32, flags: MOUSE_EVENT_FLAGS) -> INPUT {
    INPUT {
        r#type: INPUT_MOUSE,
        Anonymous: INPUT_0 {
            mi: MOUSEINPUT { dx, dy, mouseData: data, dwFlags: flags, time: 0, dwExtraInfo: 0 },
        },
    }
}

/// A button going down or up; at `at` (virtual-desktop units) when the pointer was last placed
/// absolutely, so the click lands where it was aimed even if something moved the pointer in
/// between (Wine's desktop does, from stale X events).
fn button_input(button: MouseButton, down: bool, at: Option<(i32, i32)>) -> INPUT {
    let (flags, data) = match (button, down) {
        (MouseButton::Left, true) => (MOUSEEVENTF_LEFTDOWN, 0),
        (MouseButton::Left, false) => (MOUSEEVENTF_LEFTUP, 0),
        (MouseButton::Right, true) => (MOUSEEVENTF_RIGHTDOWN, 0),
        (MouseButton::Right, false) => (MOUSEEVENTF_RIGHTUP, 0),
        (MouseButton::Middle, true) => (MOUSEEVENTF_MIDDLEDOWN, 0),
        (MouseButton::Middle, false) => (MOUSEEVENTF_MIDDLEUP, 0),
        (MouseButton::Back, true) => (MOUSEEVENTF_XDOWN, XBUTTON1),
        (MouseButton::Back, false) => (MOUSEEVENTF_XUP, XBUTTON1),
        (MouseButton::Forward, true) => (MOUSEEVENTF_XDOWN, XBUTTON2),
        (MouseButton::Forward, false) => (MOUSEEVENTF_XUP, XBUTTON2),
    };
    match at {
        Some((x, y)) => {
            mouse_input(x, y, data, flags | MOUSEEVENTF_MOVE | MOUSEEVENTF_ABSOLUTE | MOUSEEVENTF_VIRTUALDESK)
        }
        None => mouse_input(0, 0, data, flags),
    }
}

impl SendInputSink {
    /// An injector for `monitor`'s area.
    pub fn open(monitor: MonitorChoice) -> Result<Self, InputError> {
        let area = peerdesk_capture::platform::monitor_rect(&monitor)
            .map_err(|e| InputError::Connection(e.to_string()))?;
        Ok(Self {
            monitor,
            area,
            held: HashMap::new(),
            pointer: None,
            checked: std::time::Instant::now(),
            failed_once: false,
        })
    }

    fn send(&mut self, inputs: &[INPUT]) {
        if inputs.is_empty() {
            return;
        }
        // SAFETY: `inputs` is a valid slice of INPUT structs whose size is passed as cbSize;
        // SendInput only reads it.
        let sent =
            unsafe { SendInput(inputs.len() as u32, inputs.as_ptr(), std::mem::size_of::<INPUT>() as i32) };
        if sent as usize != inputs.len() && !self.failed_once {
            self.failed_once = true;
            warn!(
                "Windows refused injected input (a UAC prompt or a window of an elevated program has the focus; run the host elevated to control those)"
            );
        }
    }

    fn move_to(&mut self, x: u16, y: u16) {
        // The monitor may have moved or changed size: looked up again once a second.
        if self.checked.elapsed() >= std::time::Duration::from_secs(1) {
            self.checked = std::time::Instant::now();
            if let Ok(area) = peerdesk_capture::platform::monitor_rect(&self.monitor) {
                self.area = area;
            }
        }
        let (nx, ny) = to_virtual_desk(to_pixel(x, y, self.area), virtual_desktop());
        self.pointer = Some((nx, ny));
        self.send(&[mouse_input(
            nx,
            ny,
            0,
            MOUSEEVENTF_MOVE | MOUSEEVENTF_ABSOLUTE | MOUSEEVENTF_VIRTUALDESK,
        )]);
    }

    fn type_text(&mut self, text: &str) {
        let mut inputs = Vec::new();
        for unit in text.encode_utf16() {
            for up in [false, true] {
                let flags = if up { KEYEVENTF_UNICODE | KEYEVENTF_KEYUP } else { KEYEVENTF_UNICODE };
                inputs.push(INPUT {
                    r#type: INPUT_KEYBOARD,
                    Anonymous: INPUT_0 {
                        ki: KEYBDINPUT { wVk: 0, wScan: unit, dwFlags: flags, time: 0, dwExtraInfo: 0 },
                    },
                });
            }
        }
        self.send(&inputs);
    }
}

impl InputSink for SendInputSink {
    fn handle(&mut self, peer: PeerId, event: &InputEvent) {
        match event {
            InputEvent::PointerMove { x, y } => self.move_to(*x, *y),
            InputEvent::PointerRelative { dx, dy } => {
                self.pointer = None;
                self.send(&[mouse_input(i32::from(*dx), i32::from(*dy), 0, MOUSEEVENTF_MOVE)]);
            }
            InputEvent::Button { button, down } => {
                let held = self.held.entry(peer).or_default();
                if *down {
                    held.buttons.insert(*button);
                } else if !held.buttons.remove(button) {
                    return;
                }
                let at = self.pointer;
                self.send(&[button_input(*button, *down, at)]);
            }
            InputEvent::Wheel { dx, dy } => {
                // Windows: positive is away from the user (up), the wire's positive is down.
                let mut inputs = Vec::new();
                if *dy != 0 {
                    inputs.push(mouse_input(0, 0, (-i32::from(*dy)) as u32, MOUSEEVENTF_WHEEL));
                }
                if *dx != 0 {
                    inputs.push(mouse_input(0, 0, i32::from(*dx) as u32, MOUSEEVENTF_HWHEEL));
                }
                self.send(&inputs);
            }
            InputEvent::Key { code, down } => {
                let Some(sc) = scancode(code) else { return };
                let held = self.held.entry(peer).or_default();
                if *down {
                    held.keys.insert(sc);
                } else if !held.keys.remove(&sc) {
                    return;
                }
                self.send(&[key_input(sc, !*down)]);
            }
            InputEvent::ReleaseAll => self.release(peer),
            InputEvent::Text { text } => self.type_text(text),
            InputEvent::Gamepad { .. } | InputEvent::GamepadRemoved { .. } => {}
        }
    }

    fn release(&mut self, peer: PeerId) {
        let Some(held) = self.held.remove(&peer) else { return };
        let mut inputs: Vec<INPUT> = held.keys.into_iter().map(|sc| key_input(sc, true)).collect();
        inputs.extend(held.buttons.into_iter().map(|b| button_input(b, false, None)));
        self.send(&inputs);
        // The monitor may have moved meanwhile.
        if let Ok(area) = peerdesk_capture::platform::monitor_rect(&self.monitor) {
            self.area = area;
        }
    }
}
