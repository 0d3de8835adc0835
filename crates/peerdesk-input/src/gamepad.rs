//! Gamepads: each viewer's pads (W3C standard mapping) become virtual Xbox 360 controllers on
//! the host, in up to [`SLOTS`] slots, as Linux evdev events (the kernel's `xpad` layout, so
//! games and SDL see the pad they know); rumble the games play comes back per slot.
//!
//! The parts: [`PadState`] and [`events`] (a state change to evdev events), [`encode`] (one
//! event in the kernel's `struct input_event` layout: what a uinput device is written), the
//! force-feedback bookkeeping [`FfEffects`], the [`Pads`] router (which viewer's pad is in which
//! slot; a pad keeps its slot while connected), and [`FileBackend`], which writes the event
//! stream of each slot to a file in place of the device (tests, and machines without uinput
//! that want a record). The uinput backend is in `platform/`.

use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use peerdesk_proto::{InputEvent, PeerId};
use tracing::{info, warn};

/// Virtual pads the host offers at once.
pub const SLOTS: usize = 4;

/// Event types, codes and values of `linux/input-event-codes.h` that a pad uses.
pub mod codes {
    /// Synchronisation events.
    pub const EV_SYN: u16 = 0x00;
    /// Keys and buttons.
    pub const EV_KEY: u16 = 0x01;
    /// Absolute axes.
    pub const EV_ABS: u16 = 0x03;
    /// Force feedback (from the game to the device).
    pub const EV_FF: u16 = 0x15;
    /// End of a batch of events.
    pub const SYN_REPORT: u16 = 0;
    /// A (south face button).
    pub const BTN_A: u16 = 0x130;
    /// B (east).
    pub const BTN_B: u16 = 0x131;
    /// X (west).
    pub const BTN_X: u16 = 0x133;
    /// Y (north).
    pub const BTN_Y: u16 = 0x134;
    /// Left bumper.
    pub const BTN_TL: u16 = 0x136;
    /// Right bumper.
    pub const BTN_TR: u16 = 0x137;
    /// Back.
    pub const BTN_SELECT: u16 = 0x13a;
    /// Start.
    pub const BTN_START: u16 = 0x13b;
    /// Guide.
    pub const BTN_MODE: u16 = 0x13c;
    /// Left stick press.
    pub const BTN_THUMBL: u16 = 0x13d;
    /// Right stick press.
    pub const BTN_THUMBR: u16 = 0x13e;
    /// Left stick, horizontal.
    pub const ABS_X: u16 = 0x00;
    /// Left stick, vertical (down positive).
    pub const ABS_Y: u16 = 0x01;
    /// Left trigger.
    pub const ABS_Z: u16 = 0x02;
    /// Right stick, horizontal.
    pub const ABS_RX: u16 = 0x03;
    /// Right stick, vertical.
    pub const ABS_RY: u16 = 0x04;
    /// Right trigger.
    pub const ABS_RZ: u16 = 0x05;
    /// D-pad, horizontal (-1 left, 1 right).
    pub const ABS_HAT0X: u16 = 0x10;
    /// D-pad, vertical (-1 up, 1 down).
    pub const ABS_HAT0Y: u16 = 0x11;
    /// The effect gain (EV_FF), 0 to 0xffff.
    pub const FF_GAIN: u16 = 0x60;
}

use codes::*;

/// The standard mapping's digital buttons (bit index) and the evdev key each becomes; the
/// triggers (6, 7) are axes and the d-pad (12-15) a hat, as on the kernel's Xbox 360 pad.
pub const BUTTON_KEYS: [(u32, u16); 11] = [
    (0, BTN_A),
    (1, BTN_B),
    (2, BTN_X),
    (3, BTN_Y),
    (4, BTN_TL),
    (5, BTN_TR),
    (8, BTN_SELECT),
    (9, BTN_START),
    (10, BTN_THUMBL),
    (11, BTN_THUMBR),
    (16, BTN_MODE),
];

/// The axes a pad reports, with their ranges (min, max, fuzz, flat), as `xpad` sets them.
pub const AXES: [(u16, i32, i32, i32, i32); 8] = [
    (ABS_X, -32768, 32767, 16, 128),
    (ABS_Y, -32768, 32767, 16, 128),
    (ABS_RX, -32768, 32767, 16, 128),
    (ABS_RY, -32768, 32767, 16, 128),
    (ABS_Z, 0, 255, 0, 0),
    (ABS_RZ, 0, 255, 0, 0),
    (ABS_HAT0X, -1, 1, 0, 0),
    (ABS_HAT0Y, -1, 1, 0, 0),
];

/// The USB identity of the virtual pads: Microsoft's Xbox 360 controller (vendor, product,
/// version), so that SDL and games map it without asking.
pub const XBOX360_ID: (u16, u16, u16) = (0x045e, 0x028e, 0x0110);

/// The name the kernel's own driver gives that pad.
pub const XBOX360_NAME: &str = "Microsoft X-Box 360 pad";

/// One pad's whole state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PadState {
    /// Standard-mapping button bits.
    pub buttons: u32,
    /// Left and right trigger, 0 to 255.
    pub triggers: [u8; 2],
    /// Left x, left y, right x, right y.
    pub sticks: [i16; 4],
}

impl PadState {
    /// The state a [`InputEvent::Gamepad`] carries.
    pub fn from_event(buttons: u32, lt: u8, rt: u8, sticks: [i16; 4]) -> Self {
        Self { buttons, triggers: [lt, rt], sticks }
    }

    fn hat(&self) -> (i32, i32) {
        let on = |bit: u32| self.buttons & (1 << bit) != 0;
        let axis = |neg: bool, pos: bool| i32::from(pos) - i32::from(neg);
        (axis(on(14), on(15)), axis(on(12), on(13)))
    }

    /// Every axis value: ABS code and value.
    fn axes(&self) -> [(u16, i32); 8] {
        let (hx, hy) = self.hat();
        [
            (ABS_X, i32::from(self.sticks[0])),
            (ABS_Y, i32::from(self.sticks[1])),
            (ABS_RX, i32::from(self.sticks[2])),
            (ABS_RY, i32::from(self.sticks[3])),
            (ABS_Z, i32::from(self.triggers[0])),
            (ABS_RZ, i32::from(self.triggers[1])),
            (ABS_HAT0X, hx),
            (ABS_HAT0Y, hy),
        ]
    }
}

/// One evdev event: type, code, value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawEvent {
    /// `EV_*`.
    pub kind: u16,
    /// The key or axis.
    pub code: u16,
    /// Pressed (1) or released (0), or the axis position.
    pub value: i32,
}

/// The events that take a pad from `prev` (`None`: a new pad, all at rest) to `next`, ending
/// with `SYN_REPORT`; empty when nothing changed.
pub fn events(prev: Option<&PadState>, next: &PadState) -> Vec<RawEvent> {
    let rest = PadState::default();
    let prev = prev.unwrap_or(&rest);
    let mut out = Vec::new();
    for (bit, key) in BUTTON_KEYS {
        let (was, is) = (prev.buttons & (1 << bit) != 0, next.buttons & (1 << bit) != 0);
        if was != is {
            out.push(RawEvent { kind: EV_KEY, code: key, value: i32::from(is) });
        }
    }
    for ((code, was), (_, is)) in prev.axes().into_iter().zip(next.axes()) {
        if was != is {
            out.push(RawEvent { kind: EV_ABS, code, value: is });
        }
    }
    if !out.is_empty() {
        out.push(RawEvent { kind: EV_SYN, code: SYN_REPORT, value: 0 });
    }
    out
}

/// Size of the kernel's `struct input_event` on 64-bit Linux.
pub const EVENT_SIZE: usize = 24;

/// One event in the kernel's `struct input_event` layout (64-bit: `timeval` as two i64, then
/// type u16, code u16, value i32, native byte order). The time is zero: uinput stamps events
/// itself.
pub fn encode(ev: &RawEvent) -> [u8; EVENT_SIZE] {
    let mut out = [0u8; EVENT_SIZE];
    out[16..18].copy_from_slice(&ev.kind.to_ne_bytes());
    out[18..20].copy_from_slice(&ev.code.to_ne_bytes());
    out[20..24].copy_from_slice(&ev.value.to_ne_bytes());
    out
}

/// Rumble for a browser pad: motor strengths (0 to 65535) and how long.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rumble {
    /// The heavy (left, low-frequency) motor.
    pub strong: u16,
    /// The light (right, high-frequency) motor.
    pub weak: u16,
    /// How long, in milliseconds; zero with both motors at zero: stop.
    pub duration_ms: u16,
}

/// Longest rumble passed on for an effect that asks for "until stopped" (length 0).
const ENDLESS_MS: u16 = 5000;

/// The rumble effects a game uploaded to one pad, and what playing them means.
#[derive(Clone, Debug)]
pub struct FfEffects {
    effects: HashMap<i16, Rumble>,
    gain: u16,
}

impl Default for FfEffects {
    fn default() -> Self {
        Self { effects: HashMap::new(), gain: u16::MAX }
    }
}

impl FfEffects {
    /// The game uploaded (or replaced) rumble effect `id`; a length of 0 plays until stopped.
    pub fn upload(&mut self, id: i16, strong: u16, weak: u16, length_ms: u16) {
        let duration_ms = if length_ms == 0 { ENDLESS_MS } else { length_ms };
        self.effects.insert(id, Rumble { strong, weak, duration_ms });
    }

    /// The game erased effect `id`.
    pub fn erase(&mut self, id: i16) {
        self.effects.remove(&id);
    }

    /// The game set the gain (`FF_GAIN`, 0 to 0xffff) that scales every effect.
    pub fn set_gain(&mut self, gain: u16) {
        self.gain = gain;
    }

    /// The game played (`count` > 0) or stopped (0) effect `id`: the rumble to send, if any.
    pub fn play(&mut self, id: i16, count: i32) -> Option<Rumble> {
        let effect = self.effects.get(&id)?;
        if count <= 0 {
            return Some(Rumble { strong: 0, weak: 0, duration_ms: 0 });
        }
        let scale = |m: u16| ((u32::from(m) * u32::from(self.gain)) / u32::from(u16::MAX)) as u16;
        // Repeats play back to back, up to the cap of an endless one.
        let total = u32::from(effect.duration_ms) * u32::try_from(count).unwrap_or(1);
        let duration_ms = u16::try_from(total).unwrap_or(u16::MAX).min(ENDLESS_MS.max(effect.duration_ms));
        Some(Rumble { strong: scale(effect.strong), weak: scale(effect.weak), duration_ms })
    }
}

/// Where a virtual pad's rumble goes: called with the pad's slot, from any thread.
pub type RumbleSink = Arc<dyn Fn(usize, Rumble) + Send + Sync>;

/// A [`RumbleSink`] in a struct that can say what it is.
struct Sinks(HashMap<usize, RumbleSink>);

impl std::fmt::Debug for Sinks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.0.keys()).finish()
    }
}

/// One virtual pad.
pub trait PadOutput: Send {
    /// Takes the pad from state `from` to `to`: by default as evdev events, through `write`
    /// (uinput and the test backend); pads that take whole reports (ViGEmBus) override it.
    fn apply(&mut self, from: &PadState, to: &PadState) -> std::io::Result<()> {
        let bytes: Vec<u8> = events(Some(from), to).iter().flat_map(encode).collect();
        if bytes.is_empty() {
            return Ok(());
        }
        self.write(&bytes)
    }

    /// Writes encoded events (a whole batch, ending with `SYN_REPORT`).
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<()>;
}

/// A pad's state as an Xbox 360 (XUSB) report, what XInput and ViGEmBus take.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XusbReport {
    /// `XINPUT_GAMEPAD_*` bits.
    pub buttons: u16,
    /// Left trigger, 0 to 255.
    pub left_trigger: u8,
    /// Right trigger, 0 to 255.
    pub right_trigger: u8,
    /// Left x, left y, right x, right y; y is positive up (the browser's is positive down).
    pub sticks: [i16; 4],
}

/// Standard-mapping button bit, and its `XINPUT_GAMEPAD_*` bit. The triggers (bits 6 and 7)
/// are axes there.
const XUSB_BUTTONS: [(u32, u16); 15] = [
    (0, 0x1000),  // A
    (1, 0x2000),  // B
    (2, 0x4000),  // X
    (3, 0x8000),  // Y
    (4, 0x0100),  // left shoulder
    (5, 0x0200),  // right shoulder
    (8, 0x0020),  // back
    (9, 0x0010),  // start
    (10, 0x0040), // left thumb
    (11, 0x0080), // right thumb
    (12, 0x0001), // d-pad up
    (13, 0x0002), // d-pad down
    (14, 0x0004), // d-pad left
    (15, 0x0008), // d-pad right
    (16, 0x0400), // guide
];

impl PadState {
    /// The state as an XUSB report.
    pub fn xusb(&self) -> XusbReport {
        let buttons = XUSB_BUTTONS
            .iter()
            .filter(|(bit, _)| self.buttons & (1 << bit) != 0)
            .fold(0u16, |acc, (_, x)| acc | x);
        // Up is negative in the browser (and evdev), positive in XInput; -32768 has no
        // positive twin, so it saturates.
        let up = |v: i16| v.saturating_neg();
        let [lx, ly, rx, ry] = self.sticks;
        XusbReport {
            buttons,
            left_trigger: self.triggers[0],
            right_trigger: self.triggers[1],
            sticks: [lx, up(ly), rx, up(ry)],
        }
    }
}

/// Makes virtual pads.
pub trait PadBackend: Send {
    /// A new pad in `slot` (0 to 3), all at rest; its rumble goes to `rumble`. Dropping the
    /// output removes the pad.
    fn create(&mut self, slot: usize, rumble: RumbleSink) -> std::io::Result<Box<dyn PadOutput>>;
}

/// Which viewer pad sits in a slot.
type Owners = Arc<Mutex<[Option<(PeerId, u8)>; SLOTS]>>;

struct Slot {
    state: PadState,
    out: Box<dyn PadOutput>,
}

/// Routes the viewers' pads to virtual pads: a viewer's pad (its browser index) takes the first
/// free slot when it first sends a state and keeps it until it is removed or the viewer leaves.
pub struct Pads {
    backend: Result<Box<dyn PadBackend>, String>,
    slots: [Option<Slot>; SLOTS],
    owners: Owners,
    rumble: RumbleSink,
    /// What was already said about pads not working, said once.
    warned: std::collections::HashSet<String>,
}

impl std::fmt::Debug for Pads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pads").field("owners", &self.owners).finish_non_exhaustive()
    }
}

impl Pads {
    /// Pads made by `backend` (`Err`: why there are none here, said once when a pad first
    /// arrives). Rumble goes to `on_rumble` with the viewer and its browser index.
    pub fn new(
        backend: Result<Box<dyn PadBackend>, String>,
        on_rumble: Arc<dyn Fn(PeerId, u8, Rumble) + Send + Sync>,
    ) -> Self {
        let owners: Owners = Arc::new(Mutex::new([None; SLOTS]));
        let lookup = owners.clone();
        let rumble: RumbleSink = Arc::new(move |slot, r| {
            let owner = lookup.lock().unwrap_or_else(|p| p.into_inner()).get(slot).copied().flatten();
            if let Some((peer, index)) = owner {
                on_rumble(peer, index, r);
            }
        });
        Self { backend, slots: std::array::from_fn(|_| None), owners, rumble, warned: Default::default() }
    }

    fn warn_once(&mut self, what: String) {
        if self.warned.insert(what.clone()) {
            warn!("{what}");
        }
    }

    fn slot_of(&self, peer: PeerId, index: u8) -> Option<usize> {
        let owners = self.owners.lock().unwrap_or_else(|p| p.into_inner());
        owners.iter().position(|o| *o == Some((peer, index)))
    }

    /// Takes a pad event; false for any other event.
    pub fn handle(&mut self, peer: PeerId, event: &InputEvent) -> bool {
        match *event {
            InputEvent::Gamepad { index, buttons, lt, rt, lx, ly, rx, ry } => {
                let next = PadState::from_event(buttons, lt, rt, [lx, ly, rx, ry]);
                self.update(peer, index, next);
                true
            }
            InputEvent::GamepadRemoved { index } => {
                if let Some(slot) = self.slot_of(peer, index) {
                    self.remove(slot);
                }
                true
            }
            _ => false,
        }
    }

    fn update(&mut self, peer: PeerId, index: u8, next: PadState) {
        let slot = match self.slot_of(peer, index) {
            Some(s) => s,
            None => match self.add(peer, index) {
                Some(s) => s,
                None => return,
            },
        };
        let Some(pad) = self.slots[slot].as_mut() else { return };
        if pad.state == next {
            return;
        }
        match pad.out.apply(&pad.state, &next) {
            Ok(()) => pad.state = next,
            Err(e) => {
                self.warn_once(format!("gamepad {} stopped taking events ({e}); it is removed", slot + 1));
                self.remove(slot);
            }
        }
    }

    /// A new virtual pad for the viewer's pad, in the first free slot.
    fn add(&mut self, peer: PeerId, index: u8) -> Option<usize> {
        let backend = match self.backend.as_mut() {
            Ok(b) => b,
            Err(why) => {
                let why = why.clone();
                self.warn_once(format!("{why}; gamepads are ignored, the rest of the session works"));
                return None;
            }
        };
        let Some(slot) = self.slots.iter().position(Option::is_none) else {
            self.warn_once(format!("all {SLOTS} gamepads are in use; more are ignored"));
            return None;
        };
        match backend.create(slot, self.rumble.clone()) {
            Ok(out) => {
                self.owners.lock().unwrap_or_else(|p| p.into_inner())[slot] = Some((peer, index));
                self.slots[slot] = Some(Slot { state: PadState::default(), out });
                info!("gamepad {} connected (viewer {peer}'s pad {index})", slot + 1);
                Some(slot)
            }
            Err(e) => {
                self.warn_once(format!("cannot create a virtual gamepad: {e}"));
                None
            }
        }
    }

    /// Releases everything the pad in `slot` holds, then removes it.
    fn remove(&mut self, slot: usize) {
        if let Some(mut pad) = self.slots[slot].take() {
            let _ = pad.out.apply(&pad.state, &PadState::default());
            info!("gamepad {} disconnected", slot + 1);
        }
        self.owners.lock().unwrap_or_else(|p| p.into_inner())[slot] = None;
    }

    /// `peer` left: its pads go.
    pub fn release(&mut self, peer: PeerId) {
        let mine: Vec<usize> = {
            let owners = self.owners.lock().unwrap_or_else(|p| p.into_inner());
            (0..SLOTS).filter(|&s| owners[s].is_some_and(|(p, _)| p == peer)).collect()
        };
        for slot in mine {
            self.remove(slot);
        }
    }
}

/// Writes each slot's events to `DIR/padN.events` (N from 0) in place of a device, and takes
/// the games' side of force feedback from the lines of `DIR/ff`, when that exists (a FIFO a
/// test makes): `SLOT upload ID STRONG WEAK MS`, `SLOT play ID COUNT`, `SLOT erase ID`,
/// `SLOT gain GAIN`.
#[derive(Debug)]
pub struct FileBackend {
    dir: PathBuf,
    sinks: Arc<Mutex<Sinks>>,
}

impl FileBackend {
    /// A backend writing into `dir`; starts the thread that reads `dir/ff` if it exists.
    pub fn new(dir: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let sinks = Arc::new(Mutex::new(Sinks(HashMap::new())));
        let ff = dir.join("ff");
        if ff.exists() {
            let sinks = sinks.clone();
            std::thread::Builder::new().name("pad-ff-file".into()).spawn(move || {
                let mut effects: HashMap<usize, FfEffects> = HashMap::new();
                // Opening a FIFO waits for a writer; when it closes, wait for the next one. The
                // thread lives as long as the host.
                while let Ok(file) = std::fs::File::open(&ff) {
                    for line in std::io::BufReader::new(file).lines().map_while(Result::ok) {
                        let Some((slot, rumble)) = ff_line(&line, &mut effects) else { continue };
                        let sink = sinks.lock().unwrap_or_else(|p| p.into_inner()).0.get(&slot).cloned();
                        if let Some(sink) = sink {
                            sink(slot, rumble);
                        }
                    }
                    if !is_fifo(&ff) {
                        // A plain file: read once.
                        return;
                    }
                }
            })?;
        }
        Ok(Self { dir: dir.to_owned(), sinks })
    }
}

/// Whether `path` is a FIFO (which is read again after each writer).
fn is_fifo(path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        path.metadata().is_ok_and(|m| m.file_type().is_fifo())
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        false
    }
}

/// One line of the FF file: the rumble it plays, if it plays one.
fn ff_line(line: &str, effects: &mut HashMap<usize, FfEffects>) -> Option<(usize, Rumble)> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let slot: usize = words.first()?.parse().ok().filter(|s| *s < SLOTS)?;
    let num = |i: usize| -> Option<i64> { words.get(i)?.parse().ok() };
    let fx = effects.entry(slot).or_default();
    match *words.get(1)? {
        "upload" => {
            let id = i16::try_from(num(2)?).ok()?;
            let [strong, weak, ms] = [num(3)?, num(4)?, num(5)?].map(|v| u16::try_from(v).unwrap_or(0));
            fx.upload(id, strong, weak, ms);
            None
        }
        "erase" => {
            fx.erase(i16::try_from(num(2)?).ok()?);
            None
        }
        "gain" => {
            fx.set_gain(u16::try_from(num(2)?).ok()?);
            None
        }
        "play" => fx.play(i16::try_from(num(2)?).ok()?, i32::try_from(num(3)?).ok()?).map(|r| (slot, r)),
        _ => None,
    }
}

struct FileOutput {
    file: std::fs::File,
    slot: usize,
    sinks: Arc<Mutex<Sinks>>,
}

impl PadOutput for FileOutput {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.file.write_all(bytes)
    }
}

impl Drop for FileOutput {
    fn drop(&mut self) {
        self.sinks.lock().unwrap_or_else(|p| p.into_inner()).0.remove(&self.slot);
    }
}

impl PadBackend for FileBackend {
    fn create(&mut self, slot: usize, rumble: RumbleSink) -> std::io::Result<Box<dyn PadOutput>> {
        let path = self.dir.join(format!("pad{slot}.events"));
        let file = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
        self.sinks.lock().unwrap_or_else(|p| p.into_inner()).0.insert(slot, rumble);
        Ok(Box::new(FileOutput { file, slot, sinks: self.sinks.clone() }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(kind: u16, code: u16, value: i32) -> RawEvent {
        RawEvent { kind, code, value }
    }

    #[test]
    fn a_state_change_is_the_events_that_differ_then_a_report() {
        let a =
            PadState { buttons: 1 | (1 << 12) | (1 << 15), triggers: [0, 200], sticks: [100, -32768, 0, 0] };
        let got = events(None, &a);
        assert_eq!(
            got,
            vec![
                ev(EV_KEY, BTN_A, 1),
                ev(EV_ABS, ABS_X, 100),
                ev(EV_ABS, ABS_Y, -32768),
                ev(EV_ABS, ABS_RZ, 200),
                ev(EV_ABS, ABS_HAT0X, 1),
                ev(EV_ABS, ABS_HAT0Y, -1),
                ev(EV_SYN, SYN_REPORT, 0),
            ]
        );
        assert!(events(Some(&a), &a).is_empty(), "no change, no events");
        let b = PadState { buttons: (1 << 16) | (1 << 13), ..a };
        assert_eq!(
            events(Some(&a), &b),
            vec![
                ev(EV_KEY, BTN_A, 0),
                ev(EV_KEY, BTN_MODE, 1),
                ev(EV_ABS, ABS_HAT0X, 0),
                ev(EV_ABS, ABS_HAT0Y, 1),
                ev(EV_SYN, SYN_REPORT, 0)
            ]
        );
    }

    #[test]
    fn events_have_the_kernels_layout() {
        let bytes = encode(&ev(EV_ABS, ABS_RY, -2));
        assert_eq!(&bytes[..16], &[0; 16], "time left to the kernel");
        assert_eq!(u16::from_ne_bytes([bytes[16], bytes[17]]), 3);
        assert_eq!(u16::from_ne_bytes([bytes[18], bytes[19]]), 4);
        assert_eq!(i32::from_ne_bytes([bytes[20], bytes[21], bytes[22], bytes[23]]), -2);
    }

    #[test]
    fn effects_play_scaled_by_gain_and_stop() {
        let mut fx = FfEffects::default();
        assert_eq!(fx.play(0, 1), None, "nothing uploaded");
        fx.upload(0, 40000, 20000, 500);
        assert_eq!(fx.play(0, 1), Some(Rumble { strong: 40000, weak: 20000, duration_ms: 500 }));
        assert_eq!(fx.play(0, 3).unwrap().duration_ms, 1500, "repeats back to back");
        fx.set_gain(0x8000);
        assert_eq!(fx.play(0, 1), Some(Rumble { strong: 20000, weak: 10000, duration_ms: 500 }));
        assert_eq!(fx.play(0, 0), Some(Rumble { strong: 0, weak: 0, duration_ms: 0 }), "stop");
        fx.upload(1, 1, 1, 0);
        assert_eq!(fx.play(1, 1).unwrap().duration_ms, ENDLESS_MS);
        fx.erase(0);
        assert_eq!(fx.play(0, 1), None);
    }

    /// Each write (slot, bytes).
    type Writes = Arc<Mutex<Vec<(usize, Vec<u8>)>>>;

    /// Writes, and the slots whose pads were dropped.
    #[derive(Clone, Default)]
    struct Recorder(Writes, Arc<Mutex<Vec<usize>>>);

    struct RecOut(usize, Recorder);

    impl PadOutput for RecOut {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
            self.1.0.lock().unwrap().push((self.0, bytes.to_vec()));
            Ok(())
        }
    }

    impl Drop for RecOut {
        fn drop(&mut self) {
            self.1.1.lock().unwrap().push(self.0);
        }
    }

    impl PadBackend for Recorder {
        fn create(&mut self, slot: usize, _rumble: RumbleSink) -> std::io::Result<Box<dyn PadOutput>> {
            Ok(Box::new(RecOut(slot, self.clone())))
        }
    }

    fn state(index: u8, buttons: u32) -> InputEvent {
        InputEvent::Gamepad { index, buttons, lt: 0, rt: 0, lx: 0, ly: 0, rx: 0, ry: 0 }
    }

    #[test]
    fn a_pad_keeps_its_slot_and_a_freed_slot_is_taken_again() {
        let rec = Recorder::default();
        let mut pads = Pads::new(Ok(Box::new(rec.clone())), Arc::new(|_, _, _| {}));
        let (p1, p2) = (PeerId(1), PeerId(2));
        assert!(pads.handle(p1, &state(0, 1)));
        assert!(pads.handle(p1, &state(1, 1)));
        assert!(pads.handle(p2, &state(0, 1)));
        let slots: Vec<usize> = rec.0.lock().unwrap().iter().map(|(s, _)| *s).collect();
        assert_eq!(slots, vec![0, 1, 2]);
        // Pad 0 of viewer 1 goes; viewer 1's pad 1 stays in slot 1; a new pad takes slot 0.
        pads.handle(p1, &InputEvent::GamepadRemoved { index: 0 });
        assert_eq!(*rec.1.lock().unwrap(), vec![0], "slot 0's pad removed");
        pads.handle(p1, &state(1, 3));
        pads.handle(p2, &state(3, 1));
        let last: Vec<usize> = rec.0.lock().unwrap().iter().skip(4).map(|(s, _)| *s).collect();
        assert_eq!(last, vec![1, 0]);
        // Viewer 2 leaves: its two pads go, released first.
        pads.release(p2);
        assert_eq!(*rec.1.lock().unwrap(), vec![0, 0, 2]);
        assert!(!pads.handle(p1, &InputEvent::ReleaseAll), "not a pad event");
    }

    #[test]
    fn without_a_backend_pads_are_ignored() {
        let mut pads = Pads::new(Err("no /dev/uinput".into()), Arc::new(|_, _, _| {}));
        assert!(pads.handle(PeerId(1), &state(0, 1)));
        assert!(pads.handle(PeerId(1), &state(0, 2)));
        assert_eq!(pads.warned.len(), 1, "said once");
    }

    #[test]
    fn ff_lines_drive_the_effects() {
        let mut fx = HashMap::new();
        assert_eq!(ff_line("0 upload 3 40000 20000 250", &mut fx), None);
        assert_eq!(
            ff_line("0 play 3 1", &mut fx),
            Some((0, Rumble { strong: 40000, weak: 20000, duration_ms: 250 }))
        );
        assert_eq!(ff_line("1 play 3 1", &mut fx), None, "another slot has no such effect");
        assert_eq!(ff_line("9 play 3 1", &mut fx), None);
        assert_eq!(ff_line("garbage", &mut fx), None);
    }

    #[test]
    fn pads_become_xusb_reports_with_xinput_bits_and_y_up() {
        let rest = PadState::default().xusb();
        assert_eq!(rest, XusbReport::default());
        // A, LB, start, d-pad up and left, guide; LT/RT bits (6, 7) are not buttons there.
        let bits = (1 << 0) | (1 << 4) | (1 << 6) | (1 << 7) | (1 << 9) | (1 << 12) | (1 << 14) | (1 << 16);
        let r = PadState::from_event(bits, 12, 255, [16384, -32768, -1, 32767]).xusb();
        assert_eq!(r.buttons, 0x1000 | 0x0100 | 0x0010 | 0x0001 | 0x0004 | 0x0400);
        assert_eq!((r.left_trigger, r.right_trigger), (12, 255));
        assert_eq!(r.sticks, [16384, 32767, -1, -32767], "y flipped: browser up is XInput up");
        // Every standard button lands on its own XInput bit.
        let all = XUSB_BUTTONS.iter().fold(0u32, |a, (b, _)| a | (1 << b));
        assert_eq!(PadState::from_event(all, 0, 0, [0; 4]).xusb().buttons.count_ones(), 15);
    }
}
