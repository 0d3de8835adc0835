//! Linux: PulseAudio's protocol, which pipewire-pulse also speaks.

mod pulse;

pub use pulse::{PulseSource, list_sources, open_desktop};
