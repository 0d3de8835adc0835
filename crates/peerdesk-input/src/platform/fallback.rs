//! Platforms without an injector yet.

use peerdesk_capture::MonitorChoice;

use crate::{InputError, InputSink};

/// No XTest on this platform.
pub fn open_xtest(
    _display: Option<&str>,
    _monitor: &MonitorChoice,
) -> Result<Box<dyn InputSink>, InputError> {
    Err(InputError::Unsupported("X11 input is only available on Linux"))
}

/// No X11 clipboard on this platform.
pub fn open_clipboard(
    _display: Option<&str>,
    _limit: usize,
    _on_copy: Box<dyn FnMut(String) + Send>,
) -> Result<std::sync::Arc<dyn crate::Clipboard>, InputError> {
    Err(InputError::Unsupported("the X11 clipboard is only available on Linux"))
}

/// No virtual gamepads on this platform.
pub fn open_pads() -> Result<Box<dyn crate::gamepad::PadBackend>, String> {
    Err("virtual gamepads are only available on Linux (uinput) and Windows (ViGEmBus)".into())
}

/// No `SendInput` here.
pub fn open_sendinput(
    _monitor: &peerdesk_capture::MonitorChoice,
) -> Result<Box<dyn crate::InputSink>, crate::InputError> {
    Err(crate::InputError::Unsupported(
        "input injection is only available on Linux (XTest) and Windows (SendInput)",
    ))
}
