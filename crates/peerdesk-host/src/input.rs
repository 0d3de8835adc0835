//! Where the viewers' input goes: the test scene here; real desktops through peerdesk-input.

use std::collections::{HashMap, HashSet};

use peerdesk_capture::SceneControl;
pub use peerdesk_input::InputSink;
use peerdesk_proto::{InputEvent, PeerId};

/// Drops input: for a host that can show but not control (no XTEST).
#[derive(Debug, Default)]
pub struct ViewOnlySink;

impl InputSink for ViewOnlySink {
    fn handle(&mut self, _peer: PeerId, _event: &InputEvent) {}
    fn release(&mut self, _peer: PeerId) {}
}

/// For tests: writes every event a viewer's input reaches the host with (`peer event` in Rust
/// debug form, a line each, flushed at once) to a file, then passes it on. What a test reads
/// there is exactly what reached the host's input.
pub struct RecordingSink {
    inner: std::sync::Arc<std::sync::Mutex<dyn InputSink>>,
    file: std::fs::File,
}

impl std::fmt::Debug for RecordingSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordingSink").finish_non_exhaustive()
    }
}

impl RecordingSink {
    /// Records into a new file at `path`, in front of `inner`.
    pub fn create(
        path: &std::path::Path,
        inner: std::sync::Arc<std::sync::Mutex<dyn InputSink>>,
    ) -> std::io::Result<Self> {
        Ok(Self { inner, file: std::fs::File::create(path)? })
    }

    fn record(&mut self, line: std::fmt::Arguments<'_>) {
        use std::io::Write;
        if let Err(e) = self.file.write_fmt(line) {
            tracing::warn!("cannot record input: {e}");
        }
    }
}

impl InputSink for RecordingSink {
    fn handle(&mut self, peer: PeerId, event: &InputEvent) {
        self.record(format_args!("{peer} {event:?}\n"));
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).handle(peer, event);
    }

    fn release(&mut self, peer: PeerId) {
        self.record(format_args!("{peer} release\n"));
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).release(peer);
    }
}

/// The viewers' gamepads to virtual pads on this machine; every event (pads included, for the
/// test scene's marker) also goes on to `inner`.
pub struct PadSink {
    pads: peerdesk_input::gamepad::Pads,
    inner: std::sync::Arc<std::sync::Mutex<dyn InputSink>>,
}

impl std::fmt::Debug for PadSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PadSink").field("pads", &self.pads).finish_non_exhaustive()
    }
}

impl PadSink {
    /// Pads through `pads`, the rest to `inner`.
    pub fn new(
        pads: peerdesk_input::gamepad::Pads,
        inner: std::sync::Arc<std::sync::Mutex<dyn InputSink>>,
    ) -> Self {
        Self { pads, inner }
    }
}

impl InputSink for PadSink {
    fn handle(&mut self, peer: PeerId, event: &InputEvent) {
        self.pads.handle(peer, event);
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).handle(peer, event);
    }

    fn release(&mut self, peer: PeerId) {
        self.pads.release(peer);
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).release(peer);
    }
}

/// Feeds the test scene: the pointer moves its dot; each key press or button press (not the
/// browser's auto-repeat of a held key) toggles its marker.
#[derive(Debug)]
pub struct SceneInputSink {
    scene: SceneControl,
    held: HashMap<PeerId, HashSet<String>>,
    /// Each viewer pad's buttons, to toggle on a press only.
    pads: HashMap<(PeerId, u8), u32>,
}

impl SceneInputSink {
    /// A sink driving `scene`.
    pub fn new(scene: SceneControl) -> Self {
        Self { scene, held: HashMap::new(), pads: HashMap::new() }
    }
}

impl InputSink for SceneInputSink {
    fn handle(&mut self, peer: PeerId, event: &InputEvent) {
        match event {
            InputEvent::PointerMove { x, y } => {
                self.scene.pointer_to(f32::from(*x) / 65536.0, f32::from(*y) / 65536.0);
            }
            InputEvent::Button { down: true, .. } => self.scene.toggle_marker(),
            InputEvent::Key { code, down } => {
                let held = self.held.entry(peer).or_default();
                if *down {
                    if held.insert(code.clone()) {
                        self.scene.toggle_marker();
                    }
                } else {
                    held.remove(code);
                }
            }
            InputEvent::ReleaseAll => self.release(peer),
            InputEvent::Text { .. } => self.scene.toggle_marker(),
            InputEvent::Gamepad { index, buttons, .. } => {
                let before = self.pads.insert((peer, *index), *buttons).unwrap_or(0);
                if buttons & !before != 0 {
                    self.scene.toggle_marker();
                }
            }
            InputEvent::GamepadRemoved { index } => {
                self.pads.remove(&(peer, *index));
            }
            InputEvent::Button { down: false, .. }
            | InputEvent::PointerRelative { .. }
            | InputEvent::Wheel { .. } => {}
        }
    }

    fn release(&mut self, peer: PeerId) {
        self.held.remove(&peer);
        self.pads.retain(|(p, _), _| *p != peer);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_do_not_toggle_and_release_forgets_held_keys() {
        let scene = SceneControl::default();
        let mut sink = SceneInputSink::new(scene.clone());
        let p = PeerId(1);
        let down = InputEvent::Key { code: "KeyA".into(), down: true };
        sink.handle(p, &down);
        sink.handle(p, &down);
        sink.handle(p, &down);
        assert_eq!(scene.snapshot().toggles, 1, "auto-repeat does not toggle again");
        sink.release(p);
        sink.handle(p, &down);
        assert_eq!(scene.snapshot().toggles, 2);
        sink.handle(p, &InputEvent::PointerMove { x: 32768, y: 0 });
        assert_eq!(scene.snapshot().pointer, Some((0.5, 0.0)));
    }
}
