//! Recording through PulseAudio (or pipewire-pulse): the simple API on the audio thread, with
//! 10 ms fragments so each read returns one frame as soon as it is recorded.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use libpulse_binding as pulse;
use libpulse_simple_binding::Simple;
use pulse::callbacks::ListResult;
use pulse::context::{Context, FlagSet, State};
use pulse::def::BufferAttr;
use pulse::error::{Code, PAErr};
use pulse::mainloop::standard::{IterateResult, Mainloop};
use pulse::operation;
use pulse::sample::{Format, Spec};
use pulse::stream::Direction;

use crate::{AudioError, AudioSource, FRAME_LEN, Pcm, SAMPLE_RATE, SourceInfo};

const APP: &str = "peerdesk";

/// Records one PulseAudio source as 48 kHz stereo.
pub struct PulseSource {
    stream: Simple,
    bytes: Vec<u8>,
}

impl std::fmt::Debug for PulseSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PulseSource").finish_non_exhaustive()
    }
}

fn open_error(name: &str, e: PAErr) -> AudioError {
    // The simple API reports codes positive, the rest of libpulse negative.
    match Code::try_from(PAErr(-e.0.abs())) {
        Ok(Code::NoEntity) => AudioError::NoSuchSource(name.to_owned()),
        _ => AudioError::NoServer(format!("{e}")),
    }
}

impl PulseSource {
    /// Opens source `name` (such as `@DEFAULT_MONITOR@` or `alsa_output.pci.monitor`). The
    /// server is the user's default one, or `$PULSE_SERVER`.
    pub fn open(name: &str) -> Result<Self, AudioError> {
        let spec = Spec { format: Format::S16le, channels: crate::CHANNELS as u8, rate: SAMPLE_RATE };
        let frame_bytes = (FRAME_LEN * 2) as u32;
        // Deliver every 10 ms; keep at most 100 ms in the server (older sound is dropped, never
        // queued behind).
        let attr = BufferAttr {
            maxlength: frame_bytes * 10,
            tlength: u32::MAX,
            prebuf: u32::MAX,
            minreq: u32::MAX,
            fragsize: frame_bytes,
        };
        let stream =
            Simple::new(None, APP, Direction::Record, Some(name), "desktop sound", &spec, None, Some(&attr))
                .map_err(|e| open_error(name, e))?;
        Ok(Self { stream, bytes: vec![0; FRAME_LEN * 2] })
    }
}

impl AudioSource for PulseSource {
    fn read(&mut self, pcm: &mut Pcm) -> Result<Instant, AudioError> {
        self.stream.read(&mut self.bytes).map_err(|e| AudioError::Lost(format!("{e}")))?;
        let now = Instant::now();
        // The frame's first sample was recorded one frame plus the server's buffered latency ago.
        let buffered = self.stream.get_latency().map(|us| Duration::from_micros(us.0)).unwrap_or_default();
        for (s, b) in pcm.iter_mut().zip(self.bytes.chunks_exact(2)) {
            *s = i16::from_le_bytes([b[0], b[1]]);
        }
        let length = Duration::from_millis(10);
        Ok(now.checked_sub(buffered + length).unwrap_or(now))
    }
}

/// Opens a desktop sound source by name.
pub fn open_desktop(name: &str) -> Result<Box<dyn AudioSource>, AudioError> {
    Ok(Box::new(PulseSource::open(name)?))
}

/// Runs the main loop until `done` says so; bounded, since a server may not answer.
fn iterate_until(
    mainloop: &mut Mainloop,
    mut done: impl FnMut() -> Option<Result<(), AudioError>>,
) -> Result<(), AudioError> {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        match mainloop.iterate(false) {
            IterateResult::Success(_) => {}
            IterateResult::Quit(_) | IterateResult::Err(_) => {
                return Err(AudioError::NoServer("the sound server's connection failed".into()));
            }
        }
        if let Some(r) = done() {
            return r;
        }
        // Not a hot path: listing sources is a one-off command.
        std::thread::sleep(Duration::from_millis(2));
    }
    Err(AudioError::NoServer("the sound server did not answer within 5 s".into()))
}

/// Lists the sources of the sound server, monitors of outputs first.
pub fn list_sources() -> Result<Vec<SourceInfo>, AudioError> {
    let mut mainloop =
        Mainloop::new().ok_or_else(|| AudioError::NoServer("cannot create a main loop".into()))?;
    let mut context =
        Context::new(&mainloop, APP).ok_or_else(|| AudioError::NoServer("cannot create a context".into()))?;
    context.connect(None, FlagSet::NOAUTOSPAWN, None).map_err(|e| AudioError::NoServer(format!("{e}")))?;
    iterate_until(&mut mainloop, || match context.get_state() {
        State::Ready => Some(Ok(())),
        State::Failed | State::Terminated => {
            Some(Err(AudioError::NoServer("connection refused (is PulseAudio or PipeWire running?)".into())))
        }
        _ => None,
    })?;
    let default_sink = Rc::new(RefCell::new(None::<String>));
    let sink = default_sink.clone();
    let op = context.introspect().get_server_info(move |info| {
        *sink.borrow_mut() = info.default_sink_name.as_ref().map(|s| s.to_string());
    });
    iterate_until(&mut mainloop, || (op.get_state() != operation::State::Running).then_some(Ok(())))?;
    let found = Rc::new(RefCell::new(Vec::new()));
    let list = found.clone();
    let op = context.introspect().get_source_info_list(move |r| {
        if let ListResult::Item(info) = r {
            let name = info.name.as_ref().map(|s| s.to_string()).unwrap_or_default();
            list.borrow_mut().push((
                name,
                info.description.as_ref().map(|s| s.to_string()).unwrap_or_default(),
                info.monitor_of_sink_name.as_ref().map(|s| s.to_string()),
            ));
        }
    });
    iterate_until(&mut mainloop, || (op.get_state() != operation::State::Running).then_some(Ok(())))?;
    context.disconnect();
    let default_sink = default_sink.borrow().clone();
    let mut sources: Vec<SourceInfo> = found
        .borrow()
        .iter()
        .map(|(name, description, monitor_of)| SourceInfo {
            name: name.clone(),
            description: description.clone(),
            monitor: monitor_of.is_some(),
            default: monitor_of.is_some() && *monitor_of == default_sink,
        })
        .collect();
    sources.sort_by_key(|s| (!s.default, !s.monitor));
    Ok(sources)
}
