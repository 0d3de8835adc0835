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

/// No uinput on this platform.
#[derive(Debug)]
pub struct UinputBackend;

impl UinputBackend {
    /// Always refuses: virtual gamepads need Linux uinput here.
    pub fn open() -> Result<Self, String> {
        Err("virtual gamepads are only available on Linux (uinput)".into())
    }
}

impl crate::gamepad::PadBackend for UinputBackend {
    fn create(
        &mut self,
        _slot: usize,
        _rumble: crate::gamepad::RumbleSink,
    ) -> std::io::Result<Box<dyn crate::gamepad::PadOutput>> {
        Err(std::io::Error::other("no uinput"))
    }
}

/// No `SendInput` here.
pub fn open_sendinput(
    _monitor: &peerdesk_capture::MonitorChoice,
) -> Result<Box<dyn crate::InputSink>, crate::InputError> {
    Err(crate::InputError::Unsupported(
        "input injection is only available on Linux (XTest) and Windows (SendInput)",
    ))
}
