//! Linux injectors: XTest on X11, the RemoteDesktop portal on Wayland (`wayland` feature), virtual gamepads through uinput, and the X11 clipboard.

mod clipboard;
#[cfg(feature = "wayland")]
mod portal;
mod uinput;
#[cfg(feature = "wayland")]
mod wlr;
#[cfg(feature = "wayland")]
mod wlr_clipboard;
mod xtest;

pub use clipboard::{X11Clipboard, open_clipboard};
pub use uinput::UinputBackend;

pub use xtest::{XTestSink, open_xtest};

#[cfg(feature = "wayland")]
pub use portal::{PortalDevice, portal_sink};
#[cfg(feature = "wayland")]
pub use wlr::{WlrDevice, open_wlr_input};
#[cfg(feature = "wayland")]
pub use wlr_clipboard::{WlrClipboard, open_wlr_clipboard};

use crate::InputError;

/// Virtual gamepads: uinput.
pub fn open_pads() -> Result<Box<dyn crate::gamepad::PadBackend>, String> {
    UinputBackend::open().map(|b| Box::new(b) as Box<dyn crate::gamepad::PadBackend>)
}

/// A connection to `display` (default `$DISPLAY`) and its default screen, for an injector or
/// the clipboard; the error names the display and what to do.
fn connect(display: Option<&str>) -> Result<(x11rb::rust_connection::RustConnection, usize), InputError> {
    let name = match display {
        Some(d) => d.to_owned(),
        None => std::env::var("DISPLAY").map_err(|_| InputError::Open {
            display: "(unset)".into(),
            why: "DISPLAY is not set; pass --display :N".into(),
        })?,
    };
    x11rb::rust_connection::RustConnection::connect(Some(&name))
        .map_err(|e| InputError::Open { display: name.clone(), why: e.to_string() })
}

/// No `SendInput` here.
pub fn open_sendinput(
    _monitor: &peerdesk_capture::MonitorChoice,
) -> Result<Box<dyn crate::InputSink>, crate::InputError> {
    Err(crate::InputError::Unsupported("SendInput is Windows only; on Linux the host uses XTest"))
}
