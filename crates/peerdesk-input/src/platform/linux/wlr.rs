//! Input on wlroots compositors (sway and its kin), whose portal has no RemoteDesktop: the
//! virtual pointer (wlr-virtual-pointer) and virtual keyboard (virtual-keyboard-unstable-v1)
//! protocols, on a Wayland connection of the injector's own.

use std::io::Write;
use std::os::fd::AsFd;
use std::time::Instant;

use peerdesk_capture::platform::MonitorChoice;
use tracing::{info, warn};
use wayland_client::protocol::{wl_output, wl_pointer, wl_registry, wl_seat};
use wayland_client::{Connection, Dispatch, EventQueue, Proxy, QueueHandle, WEnum, delegate_noop};
use wayland_protocols_misc::zwp_virtual_keyboard_v1::client::{
    zwp_virtual_keyboard_manager_v1 as kb_manager, zwp_virtual_keyboard_v1 as kb,
};
use wayland_protocols_wlr::virtual_pointer::v1::client::{
    zwlr_virtual_pointer_manager_v1 as ptr_manager, zwlr_virtual_pointer_v1 as ptr,
};

use crate::evdev_sink::{EvdevDevice, EvdevSink};
use crate::{InputError, InputSink};

/// The keymap the virtual keyboard types with: evdev key codes, a US layout. The compositor
/// compiles it (the includes come from its XKB data) and hands the result to its clients.
const KEYMAP: &str = "xkb_keymap {\n\
    xkb_keycodes { include \"evdev+aliases(qwerty)\" };\n\
    xkb_types { include \"complete\" };\n\
    xkb_compat { include \"complete\" };\n\
    xkb_symbols { include \"pc+us+inet(evdev)\" };\n\
};\n";

#[derive(Default)]
struct Globals {
    seat: Option<wl_seat::WlSeat>,
    pointers: Option<ptr_manager::ZwlrVirtualPointerManagerV1>,
    keyboards: Option<kb_manager::ZwpVirtualKeyboardManagerV1>,
    outputs: Vec<(wl_output::WlOutput, String, (u32, u32))>,
}

/// The virtual pointer and keyboard as an [`EvdevDevice`].
pub struct WlrDevice {
    conn: Connection,
    _queue: EventQueue<Globals>,
    pointer: ptr::ZwlrVirtualPointerV1,
    keyboard: kb::ZwpVirtualKeyboardV1,
    area: (u32, u32),
    epoch: Instant,
    told: bool,
}

impl std::fmt::Debug for WlrDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WlrDevice").field("area", &self.area).finish_non_exhaustive()
    }
}

fn open_err(why: impl std::fmt::Display) -> InputError {
    InputError::Open { display: std::env::var("WAYLAND_DISPLAY").unwrap_or_default(), why: why.to_string() }
}

/// Opens a virtual pointer (on `monitor`'s output) and keyboard on the compositor at
/// `$WAYLAND_DISPLAY`.
pub fn open_wlr_input(monitor: &MonitorChoice) -> Result<Box<dyn InputSink>, InputError> {
    Ok(Box::new(EvdevSink::new(WlrDevice::open(monitor)?)))
}

impl WlrDevice {
    /// See [`open_wlr_input`].
    pub fn open(monitor: &MonitorChoice) -> Result<Self, InputError> {
        let conn = Connection::connect_to_env().map_err(open_err)?;
        let mut queue = conn.new_event_queue();
        conn.display().get_registry(&queue.handle(), ());
        let mut g = Globals::default();
        queue.roundtrip(&mut g).map_err(open_err)?;
        queue.roundtrip(&mut g).map_err(open_err)?;
        let qh = queue.handle();
        let (Some(seat), Some(pointers), Some(keyboards)) = (&g.seat, &g.pointers, &g.keyboards) else {
            return Err(InputError::Unsupported(
                "this Wayland compositor has neither a RemoteDesktop portal nor the wlroots virtual pointer and keyboard: viewers can watch but not control",
            ));
        };
        let index = match monitor {
            MonitorChoice::Primary | MonitorChoice::WholeScreen => Some(0),
            MonitorChoice::Index(i) => Some(*i),
            MonitorChoice::Name(n) => g.outputs.iter().position(|(_, name, _)| name == n),
        }
        .filter(|&i| i < g.outputs.len());
        let (pointer, area) = match index.map(|i| &g.outputs[i]) {
            Some((output, _, size)) if pointers.version() >= 2 => {
                (pointers.create_virtual_pointer_with_output(Some(seat), Some(output), &qh, ()), *size)
            }
            Some((_, _, size)) => (pointers.create_virtual_pointer(Some(seat), &qh, ()), *size),
            None => return Err(open_err("the compositor has no output to point at")),
        };
        let keyboard = keyboards.create_virtual_keyboard(seat, &qh, ());
        let file = keymap_file().map_err(open_err)?;
        keyboard.keymap(1, file.as_fd(), u32::try_from(KEYMAP.len() + 1).unwrap_or(u32::MAX));
        conn.flush().map_err(open_err)?;
        info!("input on this wlroots compositor through its virtual pointer and keyboard");
        Ok(Self { conn, _queue: queue, pointer, keyboard, area, epoch: Instant::now(), told: false })
    }

    fn time(&self) -> u32 {
        (self.epoch.elapsed().as_millis() & u128::from(u32::MAX)) as u32
    }

    fn flush(&mut self) {
        if let Err(e) = self.conn.flush()
            && !self.told
        {
            self.told = true;
            warn!("lost the Wayland compositor while injecting input: {e}");
        }
    }
}

/// The keymap in an anonymous file, NUL-terminated as the protocol asks.
fn keymap_file() -> Result<std::fs::File, String> {
    let fd = rustix::fs::memfd_create("peerdesk-keymap", rustix::fs::MemfdFlags::CLOEXEC)
        .map_err(|e| format!("memfd_create: {e}"))?;
    let mut file = std::fs::File::from(fd);
    file.write_all(KEYMAP.as_bytes()).and_then(|()| file.write_all(&[0])).map_err(|e| e.to_string())?;
    Ok(file)
}

impl EvdevDevice for WlrDevice {
    fn area(&self) -> (u32, u32) {
        self.area
    }

    fn key(&mut self, code: u16, down: bool) {
        let t = self.time();
        self.keyboard.key(t, u32::from(code), u32::from(down));
        self.flush();
    }

    fn button(&mut self, code: u16, down: bool) {
        let t = self.time();
        let state = if down { wl_pointer::ButtonState::Pressed } else { wl_pointer::ButtonState::Released };
        self.pointer.button(t, u32::from(code), state);
        self.pointer.frame();
        self.flush();
    }

    fn move_to(&mut self, x: f64, y: f64) {
        let t = self.time();
        let (w, h) = self.area;
        let clamp = |v: f64, len: u32| v.clamp(0.0, f64::from(len.max(1) - 1)) as u32;
        self.pointer.motion_absolute(t, clamp(x, w), clamp(y, h), w.max(1), h.max(1));
        self.pointer.frame();
        self.flush();
    }

    fn move_by(&mut self, dx: f64, dy: f64) {
        let t = self.time();
        self.pointer.motion(t, dx, dy);
        self.pointer.frame();
        self.flush();
    }

    fn scroll(&mut self, notches_x: i32, notches_y: i32) {
        let t = self.time();
        self.pointer.axis_source(wl_pointer::AxisSource::Wheel);
        // One notch is 15 units of scroll, as libinput reports a wheel click.
        for (axis, n) in
            [(wl_pointer::Axis::VerticalScroll, notches_y), (wl_pointer::Axis::HorizontalScroll, notches_x)]
        {
            if n != 0 {
                self.pointer.axis_discrete(t, axis, f64::from(n) * 15.0, n);
            }
        }
        self.pointer.frame();
        self.flush();
    }

    fn type_char(&mut self, _c: char) -> bool {
        false
    }
}

impl Dispatch<wl_registry::WlRegistry, ()> for Globals {
    fn event(
        g: &mut Self,
        registry: &wl_registry::WlRegistry,
        event: wl_registry::Event,
        _: &(),
        _: &Connection,
        qh: &QueueHandle<Self>,
    ) {
        if let wl_registry::Event::Global { name, interface, version } = event {
            match interface.as_str() {
                "wl_seat" if g.seat.is_none() => g.seat = Some(registry.bind(name, version.min(5), qh, ())),
                "zwlr_virtual_pointer_manager_v1" => {
                    g.pointers = Some(registry.bind(name, version.min(2), qh, ()))
                }
                "zwp_virtual_keyboard_manager_v1" => g.keyboards = Some(registry.bind(name, 1, qh, ())),
                "wl_output" => {
                    let o = registry.bind(name, version.min(4), qh, ());
                    g.outputs.push((o, String::new(), (0, 0)));
                }
                _ => {}
            }
        }
    }
}

impl Dispatch<wl_output::WlOutput, ()> for Globals {
    fn event(
        g: &mut Self,
        output: &wl_output::WlOutput,
        event: wl_output::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        let Some((_, name, size)) = g.outputs.iter_mut().find(|(o, _, _)| o == output) else { return };
        match event {
            wl_output::Event::Name { name: n } => *name = n,
            wl_output::Event::Mode { flags: WEnum::Value(f), width, height, .. }
                if f.contains(wl_output::Mode::Current) =>
            {
                *size = (u32::try_from(width).unwrap_or(0), u32::try_from(height).unwrap_or(0));
            }
            _ => {}
        }
    }
}

delegate_noop!(Globals: ignore wl_seat::WlSeat);
delegate_noop!(Globals: ignore ptr_manager::ZwlrVirtualPointerManagerV1);
delegate_noop!(Globals: ignore ptr::ZwlrVirtualPointerV1);
delegate_noop!(Globals: ignore kb_manager::ZwpVirtualKeyboardManagerV1);
delegate_noop!(Globals: ignore kb::ZwpVirtualKeyboardV1);
