//! Linux injectors: XTest on X11, virtual gamepads through uinput, and the X11 clipboard.

mod clipboard;
mod uinput;
mod xtest;

pub use clipboard::{X11Clipboard, open_clipboard};
pub use uinput::UinputBackend;

pub use xtest::{XTestSink, open_xtest};
