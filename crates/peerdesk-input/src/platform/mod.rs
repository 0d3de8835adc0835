//! Platform injectors: one cfg ladder picks `imp`.

#[cfg(target_os = "linux")]
#[path = "linux/mod.rs"]
mod imp;

#[cfg(windows)]
#[path = "windows/mod.rs"]
mod imp;

#[cfg(not(any(target_os = "linux", windows)))]
#[path = "fallback.rs"]
mod imp;

pub use imp::*;
