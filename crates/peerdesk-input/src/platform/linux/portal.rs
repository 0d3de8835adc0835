//! Input on Wayland desktops through the RemoteDesktop portal (GNOME, KDE): the keyboard and
//! pointer the desktop granted with the screen (`peerdesk_capture::platform::RemoteControl`).

use peerdesk_capture::platform::{PortalInput, RemoteControl};
use tracing::warn;

use super::xtest::char_keysym;
use crate::InputSink;
use crate::evdev_sink::{EvdevDevice, EvdevSink};

/// The portal's keyboard and pointer as an [`EvdevDevice`].
#[derive(Debug)]
pub struct PortalDevice {
    control: RemoteControl,
    dropped: u64,
}

impl PortalDevice {
    fn send(&mut self, event: PortalInput) {
        if !self.control.send(event) {
            self.dropped += 1;
            if self.dropped == 1 || self.dropped.is_power_of_two() {
                warn!(
                    dropped = self.dropped,
                    "the desktop is not taking input as fast as it comes; events dropped"
                );
            }
        }
    }
}

impl EvdevDevice for PortalDevice {
    fn area(&self) -> (u32, u32) {
        self.control.area()
    }
    fn key(&mut self, code: u16, down: bool) {
        self.send(PortalInput::Key(code, down));
    }
    fn button(&mut self, code: u16, down: bool) {
        self.send(PortalInput::Button(code, down));
    }
    fn move_to(&mut self, x: f64, y: f64) {
        self.send(PortalInput::MoveTo(x, y));
    }
    fn move_by(&mut self, dx: f64, dy: f64) {
        self.send(PortalInput::MoveBy(dx, dy));
    }
    fn scroll(&mut self, notches_x: i32, notches_y: i32) {
        self.send(PortalInput::Scroll(notches_x, notches_y));
    }
    fn type_char(&mut self, c: char) -> bool {
        self.send(PortalInput::Keysym(char_keysym(c)));
        true
    }
}

/// Viewers' input into the desktop through the RemoteDesktop portal session `control`.
pub fn portal_sink(control: RemoteControl) -> Box<dyn InputSink> {
    Box::new(EvdevSink::new(PortalDevice { control, dropped: 0 }))
}
