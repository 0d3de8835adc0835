//! Windows sound: WASAPI loopback capture of an output device (the default one unless named),
//! what the machine plays. The audio engine converts its mix format to ours (48 kHz stereo
//! 16-bit, `AUTOCONVERTPCM`), so no resampling here; packets of any length become 10 ms frames
//! in a [`FrameQueue`], which also hands out silence while nothing plays (loopback then
//! delivers nothing at all).

#![allow(unsafe_code)]

use std::time::Instant;

use wasapi::{
    AudioCaptureClient, AudioClient, DeviceEnumerator, Direction, Handle, SampleType, StreamMode, WaveFormat,
};

use crate::frames::FrameQueue;
use crate::platform::DEFAULT_SOURCE;
use crate::{AudioError, AudioSource, CHANNELS, Pcm, SAMPLE_RATE, SourceInfo};

/// The device buffer asked for, in 100 ns units: 20 ms (the engine's period is 10 ms).
const BUFFER_HNS: i64 = 200_000;
/// Longest wait for a packet before the queue is asked again (it may owe silence).
const WAIT_MS: u32 = 10;

fn lost(e: impl std::fmt::Display) -> AudioError {
    AudioError::Lost(e.to_string())
}

/// COM for this thread (the audio thread opens and reads its source itself).
fn com() -> Result<(), AudioError> {
    let hr = wasapi::initialize_mta();
    // S_FALSE (already initialised) is fine; RPC_E_CHANGED_MODE means an STA is there, which
    // WASAPI works in too.
    if hr.is_err() && hr.0 != 0x8001_0106_u32 as i32 {
        return Err(AudioError::NoServer(format!("COM would not start: {hr:?}")));
    }
    Ok(())
}

/// Whether `name` means the default output.
fn is_default(name: &str) -> bool {
    name.is_empty() || name == DEFAULT_SOURCE || name.eq_ignore_ascii_case("default")
}

/// Records what an output device plays.
pub struct LoopbackSource {
    // Kept alive for the capture client's sake; dropped after it.
    _client: AudioClient,
    capture: AudioCaptureClient,
    event: Handle,
    queue: FrameQueue,
    bytes: Vec<u8>,
}

impl std::fmt::Debug for LoopbackSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoopbackSource").finish_non_exhaustive()
    }
}

// SAFETY: the COM objects are made on the multithreaded apartment (`com()` joins it before
// anything is made), where interfaces may be used from any of its threads, and the event
// handle is a kernel handle, valid in every thread of the process. The host opens and reads a
// source on one thread anyway; the trait asks for Send so the source can be moved there.
unsafe impl Send for LoopbackSource {}

impl LoopbackSource {
    /// Starts loopback capture of the output device `name` (its friendly name, or the default).
    pub fn open(name: &str) -> Result<Self, AudioError> {
        com()?;
        let devices = DeviceEnumerator::new().map_err(|e| AudioError::NoServer(e.to_string()))?;
        let device = if is_default(name) {
            devices.get_default_device(&Direction::Render).map_err(|e| {
                AudioError::NoServer(format!("Windows has no default output device to record ({e})"))
            })?
        } else {
            let all = devices.get_device_collection(&Direction::Render).map_err(lost)?;
            all.get_device_with_name(name).map_err(|_| AudioError::NoSuchSource(name.to_owned()))?
        };
        let step = |what: &'static str| move |e: wasapi::WasapiError| lost(format!("{what}: {e}"));
        let mut client = device.get_iaudioclient().map_err(step("no audio client for the output"))?;
        let format = WaveFormat::new(16, 16, &SampleType::Int, SAMPLE_RATE as usize, CHANNELS, None);
        let mode = StreamMode::EventsShared { autoconvert: true, buffer_duration_hns: BUFFER_HNS };
        // Capture on a render device: loopback. (Wine 8 refuses it: AUDCLNT_E_WRONG_ENDPOINT_TYPE.)
        client
            .initialize_client(&format, &Direction::Capture, &mode)
            .map_err(step("the output refused loopback capture"))?;
        let event = client.set_get_eventhandle().map_err(step("no event for loopback capture"))?;
        let capture = client.get_audiocaptureclient().map_err(step("no capture client for the output"))?;
        client.start_stream().map_err(step("loopback capture did not start"))?;
        Ok(Self { _client: client, capture, event, queue: FrameQueue::new(), bytes: Vec::new() })
    }

    /// Moves every packet the engine has into the queue.
    fn drain(&mut self) -> Result<(), AudioError> {
        while let Some(frames) = self.capture.get_next_packet_size().map_err(lost)?
            && frames > 0
        {
            let bytes = frames as usize * CHANNELS * 2;
            if self.bytes.len() < bytes {
                self.bytes.resize(bytes, 0);
            }
            let (got, info) = self.capture.read_from_device(&mut self.bytes[..bytes]).map_err(lost)?;
            let got = got as usize;
            if info.flags.silent {
                self.queue.push_silence(got);
            } else {
                let samples: Vec<i16> = self.bytes[..got * CHANNELS * 2]
                    .chunks_exact(2)
                    .map(|b| i16::from_le_bytes([b[0], b[1]]))
                    .collect();
                self.queue.push(&samples);
            }
        }
        Ok(())
    }
}

impl AudioSource for LoopbackSource {
    fn read(&mut self, pcm: &mut Pcm) -> Result<Instant, AudioError> {
        loop {
            self.drain()?;
            if let Some(at) = self.queue.next(pcm, Instant::now()) {
                return Ok(at);
            }
            // A timeout is normal: nothing plays, and the queue will owe silence.
            let _ = self.event.wait_for_event(WAIT_MS);
        }
    }
}

/// Opens loopback capture of an output device by name (`@DEFAULT_MONITOR@` or `default`: the
/// default output).
pub fn open_desktop(name: &str) -> Result<Box<dyn AudioSource>, AudioError> {
    Ok(Box::new(LoopbackSource::open(name)?))
}

/// The output devices, whose sound loopback records; the default one marked.
pub fn list_sources() -> Result<Vec<SourceInfo>, AudioError> {
    com()?;
    let devices = DeviceEnumerator::new().map_err(|e| AudioError::NoServer(e.to_string()))?;
    let default_id = devices.get_default_device(&Direction::Render).ok().and_then(|d| d.get_id().ok());
    let all = devices.get_device_collection(&Direction::Render).map_err(lost)?;
    let count = all.get_nbr_devices().map_err(lost)?;
    let mut list = Vec::new();
    for i in 0..count {
        let Ok(device) = all.get_device_at_index(i) else { continue };
        let name = device.get_friendlyname().unwrap_or_else(|_| format!("output {i}"));
        let default = default_id.is_some() && device.get_id().ok() == default_id;
        list.push(SourceInfo {
            description: format!("{name} (what it plays)"),
            name,
            monitor: true,
            default,
        });
    }
    list.sort_by_key(|s| !s.default);
    Ok(list)
}
