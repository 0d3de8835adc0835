//! Platforms without a sound backend yet: the test scene's tones still work.

use crate::{AudioError, AudioSource, SourceInfo};

/// No desktop sound on this platform yet.
pub fn open_desktop(_name: &str) -> Result<Box<dyn AudioSource>, AudioError> {
    Err(AudioError::Unsupported("desktop sound capture is not available on this platform yet"))
}

/// No desktop sound on this platform yet.
pub fn list_sources() -> Result<Vec<SourceInfo>, AudioError> {
    Err(AudioError::Unsupported("desktop sound capture is not available on this platform yet"))
}
