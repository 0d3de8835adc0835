//! Linux injectors: XTest on X11 (uinput comes with gamepads).

mod xtest;

pub use xtest::{XTestSink, open_xtest};
