//! Linux injectors: XTest on X11, virtual gamepads through uinput, and the X11 clipboard.

mod clipboard;
mod uinput;
mod xtest;

pub use clipboard::{X11Clipboard, open_clipboard};
pub use uinput::UinputBackend;

pub use xtest::{XTestSink, open_xtest};

/// No `SendInput` here.
pub fn open_sendinput(
    _monitor: &peerdesk_capture::MonitorChoice,
) -> Result<Box<dyn crate::InputSink>, crate::InputError> {
    Err(crate::InputError::Unsupported("SendInput is Windows only; on Linux the host uses XTest"))
}
