//! Virtual Xbox 360 pads through Linux uinput: one device per slot, with the kernel's own
//! `xpad` buttons, axes and ranges, and rumble (`FF_RUMBLE`). Events are written to the device
//! as raw `struct input_event`s (the same bytes the file backend records); a thread per pad
//! answers the games' effect uploads and erasures and turns their plays into rumble.

use std::fs::File;
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use evdev::uinput::VirtualDevice;
use evdev::{
    AbsInfo, AbsoluteAxisCode, AttributeSet, BusType, EventSummary, FFEffectCode, FFEffectKind, InputId,
    KeyCode, UInputCode, UinputAbsSetup,
};
use tracing::{debug, warn};

use crate::gamepad::{
    AXES, BUTTON_KEYS, FfEffects, PadBackend, PadOutput, RumbleSink, XBOX360_ID, XBOX360_NAME,
};

/// How long the effect thread waits for the game before checking whether its pad is gone.
const FF_WAIT_MS: u16 = 250;

/// Makes pads through `/dev/uinput`.
#[derive(Debug)]
pub struct UinputBackend;

impl UinputBackend {
    /// Checks that this process may create uinput devices; the error says what to do.
    pub fn open() -> Result<Self, String> {
        match std::fs::OpenOptions::new().read(true).write(true).open("/dev/uinput") {
            Ok(_) => Ok(Self),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(
                "no /dev/uinput on this machine (load the uinput module: `modprobe uinput`)".into(),
            ),
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => Err(
                "cannot open /dev/uinput: permission denied (add yourself to the group that owns it, or a udev rule granting it)".into(),
            ),
            Err(e) => Err(format!("cannot open /dev/uinput: {e}")),
        }
    }
}

struct UinputPad {
    writer: File,
    stop: Arc<AtomicBool>,
}

impl PadOutput for UinputPad {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.writer.write_all(bytes)
    }
}

impl Drop for UinputPad {
    fn drop(&mut self) {
        // The effect thread sees it within FF_WAIT_MS and closes the device.
        self.stop.store(true, Ordering::Relaxed);
    }
}

impl PadBackend for UinputBackend {
    fn create(&mut self, slot: usize, rumble: RumbleSink) -> std::io::Result<Box<dyn PadOutput>> {
        let keys: AttributeSet<KeyCode> = BUTTON_KEYS.iter().map(|(_, k)| KeyCode(*k)).collect();
        let ff: AttributeSet<FFEffectCode> =
            [FFEffectCode::FF_RUMBLE, FFEffectCode::FF_GAIN].into_iter().collect();
        let (vendor, product, version) = XBOX360_ID;
        let mut builder = VirtualDevice::builder()?
            .name(XBOX360_NAME)
            .input_id(InputId::new(BusType::BUS_USB, vendor, product, version))
            .with_keys(&keys)?
            .with_ff(&ff)?
            .with_ff_effects_max(16);
        for (code, min, max, fuzz, flat) in AXES {
            let info = AbsInfo::new(0, min, max, fuzz, flat, 0);
            builder = builder.with_absolute_axis(&UinputAbsSetup::new(AbsoluteAxisCode(code), info))?;
        }
        let mut device = builder.build()?;
        let writer = File::from(device.as_fd().try_clone_to_owned()?);
        nix::fcntl::fcntl(device.as_raw_fd(), nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK))
            .map_err(std::io::Error::from)?;
        let stop = Arc::new(AtomicBool::new(false));
        let done = stop.clone();
        std::thread::Builder::new().name(format!("pad{slot}-ff")).spawn(move || {
            let mut effects = FfEffects::default();
            while !done.load(Ordering::Relaxed) {
                if let Err(e) = serve_effects(&mut device, slot, &mut effects, &rumble) {
                    warn!("gamepad {}: force feedback stopped: {e}", slot + 1);
                    // Keep the device (the pad still works) until it is removed.
                    while !done.load(Ordering::Relaxed) {
                        std::thread::park_timeout(std::time::Duration::from_millis(u64::from(FF_WAIT_MS)));
                    }
                }
            }
            drop(device);
        })?;
        Ok(Box::new(UinputPad { writer, stop }))
    }
}

/// Waits up to [`FF_WAIT_MS`] for the game, then handles what it asked.
fn serve_effects(
    device: &mut VirtualDevice,
    slot: usize,
    effects: &mut FfEffects,
    rumble: &RumbleSink,
) -> std::io::Result<()> {
    let mut fds = [nix::poll::PollFd::new(device.as_fd(), nix::poll::PollFlags::POLLIN)];
    let ready =
        nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(FF_WAIT_MS)).map_err(std::io::Error::from)?;
    if ready == 0 {
        return Ok(());
    }
    let events: Vec<_> = match device.fetch_events() {
        Ok(events) => events.collect(),
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(()),
        Err(e) => return Err(e),
    };
    for event in events {
        match event.destructure() {
            EventSummary::UInput(ev, UInputCode::UI_FF_UPLOAD, ..) => {
                let upload = device.process_ff_upload(ev)?;
                let effect = upload.effect();
                if let FFEffectKind::Rumble { strong_magnitude, weak_magnitude } = effect.kind {
                    effects.upload(
                        upload.effect_id(),
                        strong_magnitude,
                        weak_magnitude,
                        effect.replay.length,
                    );
                } else {
                    debug!("gamepad {}: ignoring a force feedback effect that is not rumble", slot + 1);
                }
                // Dropping the upload ends it (UI_END_FF_UPLOAD) with success.
            }
            EventSummary::UInput(ev, UInputCode::UI_FF_ERASE, ..) => {
                let erase = device.process_ff_erase(ev)?;
                effects.erase(i16::try_from(erase.effect_id()).unwrap_or(-1));
            }
            EventSummary::ForceFeedback(_, FFEffectCode::FF_GAIN, value) => {
                effects.set_gain(u16::try_from(value).unwrap_or(u16::MAX));
            }
            EventSummary::ForceFeedback(_, code, count) => {
                if let Some(r) = effects.play(i16::try_from(code.0).unwrap_or(-1), count) {
                    rumble(slot, r);
                }
            }
            _ => {}
        }
    }
    Ok(())
}
