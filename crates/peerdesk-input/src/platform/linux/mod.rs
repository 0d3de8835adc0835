//! Linux injectors: XTest on X11 (uinput comes with gamepads), and the X11 clipboard.

mod clipboard;
mod xtest;

pub use clipboard::{X11Clipboard, open_clipboard};

pub use xtest::{XTestSink, open_xtest};
