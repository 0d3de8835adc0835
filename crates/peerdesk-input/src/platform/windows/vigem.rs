//! Gamepads on Windows: each viewer's pad becomes a virtual Xbox 360 controller on the
//! ViGEmBus driver (what Parsec and Sunshine use too), so games see it through XInput like a
//! real one. Rumble comes back through the bus's notifications. Without the driver, the host
//! says once how to get it; the rest of the session works.

use std::sync::Arc;

use vigem_client::{Client, TargetId, XButtons, XGamepad, Xbox360Wired};

use crate::gamepad::{PadBackend, PadOutput, PadState, Rumble, RumbleSink};

/// Longest a rumble is passed on for: XInput motors run until the game changes them.
const RUMBLE_MS: u16 = 5000;

/// Makes virtual Xbox 360 pads on ViGEmBus.
#[derive(Debug)]
pub struct VigemBackend {
    client: Arc<Client>,
}

impl VigemBackend {
    /// Connects to the bus; the error says what to install.
    pub fn open() -> Result<Self, String> {
        match Client::connect() {
            Ok(client) => Ok(Self { client: Arc::new(client) }),
            Err(vigem_client::Error::BusNotFound) => Err(
                "gamepads on a Windows host need the ViGEmBus driver, which is not installed: install it (https://github.com/nefarius/ViGEmBus/releases), then restart the host".into(),
            ),
            Err(e) => Err(format!("gamepads: the ViGEmBus driver is there but refused us ({e}); reinstalling it may help")),
        }
    }
}

/// One virtual pad.
struct VigemPad {
    target: Xbox360Wired<Arc<Client>>,
}

impl PadBackend for VigemBackend {
    fn create(&mut self, slot: usize, rumble: RumbleSink) -> std::io::Result<Box<dyn PadOutput>> {
        let err = |what: &str, e: vigem_client::Error| std::io::Error::other(format!("{what}: {e}"));
        let mut target = Xbox360Wired::new(self.client.clone(), TargetId::XBOX360_WIRED);
        target.plugin().map_err(|e| err("ViGEmBus would not plug in a pad", e))?;
        target.wait_ready().map_err(|e| err("the new pad did not get ready", e))?;
        // The game's rumble; the thread ends when the pad is unplugged.
        match target.request_notification() {
            Ok(request) => {
                request.spawn_thread(move |_, n| {
                    let stop = n.large_motor == 0 && n.small_motor == 0;
                    rumble(
                        slot,
                        Rumble {
                            strong: u16::from(n.large_motor) * 257,
                            weak: u16::from(n.small_motor) * 257,
                            duration_ms: if stop { 0 } else { RUMBLE_MS },
                        },
                    );
                });
            }
            Err(e) => tracing::warn!("gamepad {}: no rumble ({e})", slot + 1),
        }
        Ok(Box::new(VigemPad { target }))
    }
}

impl PadOutput for VigemPad {
    fn apply(&mut self, _from: &PadState, to: &PadState) -> std::io::Result<()> {
        let r = to.xusb();
        let report = XGamepad {
            buttons: XButtons { raw: r.buttons },
            left_trigger: r.left_trigger,
            right_trigger: r.right_trigger,
            thumb_lx: r.sticks[0],
            thumb_ly: r.sticks[1],
            thumb_rx: r.sticks[2],
            thumb_ry: r.sticks[3],
        };
        self.target.update(&report).map_err(|e| std::io::Error::other(format!("ViGEmBus: {e}")))
    }

    fn write(&mut self, _bytes: &[u8]) -> std::io::Result<()> {
        Err(std::io::Error::other("a ViGEmBus pad takes whole reports, not evdev events"))
    }
}

impl Drop for VigemPad {
    fn drop(&mut self) {
        let _ = self.target.unplug();
    }
}
