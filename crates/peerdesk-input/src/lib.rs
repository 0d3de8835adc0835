//! Input injection for peerdesk.
//!
//! Owns: the [`InputSink`] trait every injector implements, the table from physical keys
//! (`KeyboardEvent.code`) to Linux evdev codes ([`keymap`]), and the platform injectors under
//! `platform/` (XTest on X11, gamepads through uinput; Windows `SendInput` later), the viewers'
//! gamepads as virtual Xbox 360 pads ([`gamepad`]), and the desktop's
//! clipboard ([`Clipboard`]: the X11 CLIPBOARD selection).
//!
//! Does not own: decoding (peerdesk-proto), nor who may send input (the host decides).
//!
//! Every injector tracks what each viewer holds, so [`InputSink::release`] can let go of it all
//! when the viewer leaves, loses focus or its session fails: no stuck keys.

pub mod desk;
pub mod evdev_sink;
pub mod gamepad;
pub mod keymap;
pub mod newlines;
pub mod platform;

use peerdesk_proto::{InputEvent, PeerId};

/// Receives decoded input events, tagged with the viewer that sent them.
pub trait InputSink: Send {
    /// One event from `peer`.
    fn handle(&mut self, peer: PeerId, event: &InputEvent);

    /// `peer` left: release everything it holds.
    fn release(&mut self, peer: PeerId);
}

/// A boxed sink (a platform injector chosen at run time) is a sink too.
impl<T: InputSink + ?Sized> InputSink for Box<T> {
    fn handle(&mut self, peer: PeerId, event: &InputEvent) {
        (**self).handle(peer, event);
    }

    fn release(&mut self, peer: PeerId) {
        (**self).release(peer);
    }
}

/// The desktop's clipboard, text only. Copies made on the desktop reach the host through the
/// callback given when it is opened (`platform::open_clipboard`).
pub trait Clipboard: Send + Sync {
    /// Puts `text` on the clipboard, ours until something else copies.
    fn set_text(&self, text: &str) -> Result<(), InputError>;
}

/// Why an injector could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// The display could not be opened.
    #[error("cannot open X display {display} for input: {why}")]
    Open {
        /// The display asked for.
        display: String,
        /// What went wrong.
        why: String,
    },
    /// The X server has no XTEST extension.
    #[error(
        "the X server lacks the XTEST extension, so input cannot be injected (start Xvfb or Xorg with XTEST)"
    )]
    NoXTest,
    /// Input injection is not available here.
    #[error("{0}")]
    Unsupported(&'static str),
    /// Talking to the display failed.
    #[error("X connection failed: {0}")]
    Connection(String),
}
