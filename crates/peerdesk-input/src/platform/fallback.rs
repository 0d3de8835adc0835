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
