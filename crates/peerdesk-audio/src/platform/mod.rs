//! Platform sound sources: one cfg ladder picks `imp`; every platform has the functions below,
//! returning [`AudioError::Unsupported`](crate::AudioError) where there is no backend yet.

#[cfg(target_os = "linux")]
#[path = "linux/mod.rs"]
mod imp;

#[cfg(windows)]
#[path = "windows.rs"]
mod imp;

#[cfg(not(any(target_os = "linux", windows)))]
#[path = "fallback.rs"]
mod imp;

pub use imp::*;

/// The source recorded when none is named: the monitor of the default output (what the host
/// plays), in PulseAudio's (and pipewire-pulse's) spelling; on Windows, the default output
/// recorded through WASAPI loopback.
pub const DEFAULT_SOURCE: &str = "@DEFAULT_MONITOR@";
