//! Capture on wlroots compositors (sway and its kin) through wlr-screencopy, in shared memory.
//!
//! Their portal (xdg-desktop-portal-wlr) shares only DMA-BUF frames and so cannot cast without a
//! GPU, and shows a chooser where there is nothing to choose; the compositor's own screencopy
//! protocol works everywhere. After the first frame each copy waits for damage
//! (`copy_with_damage`): a still screen sends nothing and costs nothing. A thread of its own
//! holds the Wayland connection and puts each frame, as BGRA, in a one-place slot.

use std::os::fd::AsFd;
use std::os::unix::fs::FileExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tracing::{debug, info, warn};
use wayland_client::protocol::{wl_buffer, wl_output, wl_registry, wl_shm, wl_shm_pool};
use wayland_client::{Connection, Dispatch, EventQueue, Proxy, QueueHandle, WEnum, delegate_noop};
use wayland_protocols_wlr::screencopy::v1::client::{
    zwlr_screencopy_frame_v1 as frame_v1, zwlr_screencopy_manager_v1 as manager_v1,
};

use crate::platform::MonitorChoice;
use crate::{CaptureError, Capturer, Frame, LatestSlot};

/// An output of the compositor: its name (wl_output 4) and mode size.
#[derive(Clone, Debug, Default)]
pub struct WlrOutput {
    /// Such as `HEADLESS-1` or `DP-1` (empty when the compositor does not say).
    pub name: String,
    /// Pixels.
    pub size: (u32, u32),
}

/// How much sooner than a frame period after the last copy the next is asked for.
const EARLY: Duration = Duration::from_millis(8);

/// What the thread hands over.
enum Delivery {
    Frame(Frame),
    Ended(String),
}

/// A frame being copied.
#[derive(Debug, Default)]
struct Copying {
    /// Shared-memory layout offered: format, width, height, stride.
    shm: Option<(wl_shm::Format, u32, u32, u32)>,
    /// All buffer types are told (protocol version 3), or the shm one came (earlier versions).
    described: bool,
    copy_sent: bool,
    ready: bool,
    failed: bool,
    y_invert: bool,
}

#[derive(Default)]
struct State {
    shm: Option<wl_shm::WlShm>,
    manager: Option<manager_v1::ZwlrScreencopyManagerV1>,
    outputs: Vec<(wl_output::WlOutput, WlrOutput)>,
    copying: Copying,
}

/// Whether the compositor at `$WAYLAND_DISPLAY` offers wlr-screencopy (a wlroots compositor).
pub fn wlr_screencopy_available() -> bool {
    let Ok(conn) = Connection::connect_to_env() else { return false };
    let mut queue = conn.new_event_queue();
    conn.display().get_registry(&queue.handle(), ());
    let mut state = State::default();
    queue.roundtrip(&mut state).is_ok() && state.manager.is_some() && state.shm.is_some()
}

/// The compositor's outputs, in the order it announced them.
pub fn wlr_outputs() -> Result<Vec<WlrOutput>, CaptureError> {
    let (_, _, state) = connect()?;
    Ok(state.outputs.into_iter().map(|(_, o)| o).collect())
}

fn wayland_err(e: impl std::fmt::Display) -> CaptureError {
    CaptureError::Desktop(format!("the Wayland compositor: {e}"))
}

/// A connection with the globals bound and the outputs described.
fn connect() -> Result<(Connection, EventQueue<State>, State), CaptureError> {
    let conn = Connection::connect_to_env().map_err(|e| {
        CaptureError::Desktop(format!("cannot reach the Wayland compositor ($WAYLAND_DISPLAY): {e}"))
    })?;
    let mut queue = conn.new_event_queue();
    conn.display().get_registry(&queue.handle(), ());
    let mut state = State::default();
    // Globals, then the outputs' own events.
    queue.roundtrip(&mut state).map_err(wayland_err)?;
    queue.roundtrip(&mut state).map_err(wayland_err)?;
    Ok((conn, queue, state))
}

/// Captures one output of a wlroots compositor.
pub struct WlrCapturer {
    slot: Arc<LatestSlot<Delivery>>,
    size: (u32, u32),
    min_interval_us: Arc<AtomicU64>,
    quit: Arc<AtomicBool>,
    output: String,
}

impl std::fmt::Debug for WlrCapturer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WlrCapturer")
            .field("output", &self.output)
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

impl WlrCapturer {
    /// The output's name.
    pub fn output(&self) -> &str {
        &self.output
    }
}

/// Opens `monitor` (a name such as `HEADLESS-1`, a number from `--list-sources`, or the first
/// output) of the compositor at `$WAYLAND_DISPLAY` through wlr-screencopy.
pub fn open_wlr(monitor: &MonitorChoice) -> Result<WlrCapturer, CaptureError> {
    let (conn, queue, state) = connect()?;
    if state.manager.is_none() {
        return Err(CaptureError::Desktop(
            "this Wayland compositor has no wlr-screencopy (it is not a wlroots compositor): use its ScreenCast portal".into(),
        ));
    }
    if state.shm.is_none() {
        return Err(CaptureError::Desktop("this Wayland compositor offers no shared memory (wl_shm)".into()));
    }
    let index = match monitor {
        MonitorChoice::Primary | MonitorChoice::WholeScreen => Some(0),
        MonitorChoice::Index(i) => Some(*i),
        MonitorChoice::Name(n) => state.outputs.iter().position(|(_, o)| o.name == *n),
    }
    .filter(|&i| i < state.outputs.len())
    .ok_or_else(|| {
        let names: Vec<_> =
            state.outputs.iter().enumerate().map(|(i, (_, o))| format!("{i}: {}", o.name)).collect();
        CaptureError::NoSuchMonitor(format!("{monitor:?} (this compositor has {})", names.join(", ")))
    })?;
    let (output, described) = state.outputs[index].clone();
    if matches!(monitor, MonitorChoice::WholeScreen) && state.outputs.len() > 1 {
        warn!("--monitor all: wlr-screencopy captures one output; streaming {}", described.name);
    }
    let slot = Arc::new(LatestSlot::new());
    let min_interval_us = Arc::new(AtomicU64::new(0));
    let quit = Arc::new(AtomicBool::new(false));
    let (first_tx, first_rx) = std::sync::mpsc::channel();
    let (thread_slot, thread_interval, thread_quit) = (slot.clone(), min_interval_us.clone(), quit.clone());
    std::thread::Builder::new()
        .name("peerdesk-screencopy".into())
        .spawn(move || {
            let mut copier = Copier { conn, queue, state, output, slot: thread_slot, first: Some(first_tx) };
            let why = match copier.run(&thread_interval, &thread_quit) {
                Ok(()) => return,
                Err(e) => e,
            };
            if let Some(first) = copier.first.take() {
                let _ = first.send(Err(why.clone()));
            }
            copier.slot.put(Delivery::Ended(why));
            copier.slot.close();
        })
        .map_err(|e| CaptureError::Desktop(e.to_string()))?;
    let size = first_rx
        .recv_timeout(Duration::from_secs(10))
        .map_err(|_| CaptureError::Desktop("the compositor sent no first frame within 10 s".into()))?
        .map_err(CaptureError::Desktop)?;
    info!(output = %described.name, "capturing the Wayland output through wlr-screencopy ({}x{})", size.0, size.1);
    Ok(WlrCapturer { slot, size, min_interval_us, quit, output: described.name })
}

/// The thread's side: one copy at a time.
struct Copier {
    conn: Connection,
    queue: EventQueue<State>,
    state: State,
    output: wl_output::WlOutput,
    slot: Arc<LatestSlot<Delivery>>,
    first: Option<std::sync::mpsc::Sender<Result<(u32, u32), String>>>,
}

/// Shared memory for frames of one layout, reused while the layout stays.
struct ShmBuffer {
    file: std::fs::File,
    buffer: wl_buffer::WlBuffer,
    layout: (wl_shm::Format, u32, u32, u32),
}

impl Copier {
    fn run(&mut self, min_interval_us: &AtomicU64, quit: &AtomicBool) -> Result<(), String> {
        let qh = self.queue.handle();
        let manager = self.state.manager.clone().ok_or("no screencopy")?;
        let mut buffer: Option<ShmBuffer> = None;
        let mut last: Option<Instant> = None;
        let mut with_damage = false;
        while !quit.load(Ordering::Relaxed) {
            // No faster than the stream's frame rate. The copy is made at the compositor's next
            // repaint after the request: asked for a whole period after the last, it would miss
            // the repaint due then and wait for the one after (half the frame rate), so it is
            // asked for half a period early (at most 8 ms: a 120 Hz repaint's).
            if let Some(last) = last {
                let period = Duration::from_micros(min_interval_us.load(Ordering::Relaxed));
                let due = last + period - (period / 2).min(EARLY);
                std::thread::sleep(due.saturating_duration_since(Instant::now()));
            }
            self.state.copying = Copying::default();
            let frame = manager.capture_output(1, &self.output, &qh, ());
            // The compositor describes the buffer it wants, then (after the copy) says ready.
            let started = loop {
                self.pump(quit)?;
                if quit.load(Ordering::Relaxed) {
                    frame.destroy();
                    return Ok(());
                }
                let c = &self.state.copying;
                if c.failed {
                    frame.destroy();
                    return Err("the compositor could not copy the output (it went away?)".into());
                }
                if c.described && !c.copy_sent {
                    let layout =
                        c.shm.ok_or("the compositor offers no shared-memory frame (DMA-BUF only)")?;
                    if buffer.as_ref().is_none_or(|b| b.layout != layout) {
                        if let Some(old) = buffer.take() {
                            old.buffer.destroy();
                        }
                        buffer = Some(self.make_buffer(layout)?);
                    }
                    let b = buffer.as_ref().ok_or("no buffer")?;
                    // The first copy at once; after it, each waits for something to change.
                    if with_damage {
                        frame.copy_with_damage(&b.buffer);
                    } else {
                        frame.copy(&b.buffer);
                    }
                    self.state.copying.copy_sent = true;
                    self.conn.flush().map_err(|e| e.to_string())?;
                }
                if self.state.copying.ready {
                    break Instant::now();
                }
            };
            frame.destroy();
            with_damage = true;
            last = Some(started);
            let b = buffer.as_ref().ok_or("no buffer")?;
            let (format, w, h, stride) = b.layout;
            let mut bytes = vec![0u8; (stride as usize) * (h as usize)];
            b.file.read_exact_at(&mut bytes, 0).map_err(|e| format!("reading the frame: {e}"))?;
            let order = match format {
                wl_shm::Format::Xrgb8888 | wl_shm::Format::Argb8888 => [0, 1, 2],
                wl_shm::Format::Xbgr8888 | wl_shm::Format::Abgr8888 => [2, 1, 0],
                other => {
                    return Err(format!(
                        "the compositor offers frames in {other:?}, which peerdesk does not take"
                    ));
                }
            };
            let Some(mut px) = super::wayland::to_bgra(&bytes, w, h, stride as usize, order) else {
                return Err("the compositor's frame is shorter than its layout".into());
            };
            if self.state.copying.y_invert {
                flip_rows(&mut px, w as usize * 4);
            }
            if let Some(first) = self.first.take() {
                let _ = first.send(Ok((w, h)));
            }
            self.slot.put(Delivery::Frame(Frame {
                width: w,
                height: h,
                stride: w as usize * 4,
                data: px,
                captured_at: started,
                capture_time: started.elapsed(),
            }));
        }
        Ok(())
    }

    /// Handles what has come and waits (at most 100 ms, so `quit` is seen) for more.
    fn pump(&mut self, quit: &AtomicBool) -> Result<(), String> {
        self.queue.dispatch_pending(&mut self.state).map_err(|e| e.to_string())?;
        self.conn.flush().map_err(|e| e.to_string())?;
        if quit.load(Ordering::Relaxed) {
            return Ok(());
        }
        let Some(guard) = self.queue.prepare_read() else { return Ok(()) };
        let fd = guard.connection_fd();
        let mut fds = [rustix::event::PollFd::new(&fd, rustix::event::PollFlags::IN)];
        let timeout = rustix::event::Timespec { tv_sec: 0, tv_nsec: 100_000_000 };
        let ready = rustix::event::poll(&mut fds, Some(&timeout)).map_err(|e| e.to_string())?;
        if ready > 0 {
            match guard.read() {
                Ok(_) => {}
                // Readable, yet nothing whole to read yet.
                Err(wayland_client::backend::WaylandError::Io(e))
                    if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(format!("the compositor went away: {e}")),
            }
        }
        self.queue.dispatch_pending(&mut self.state).map_err(|e| e.to_string())?;
        Ok(())
    }

    /// A shared-memory buffer of `layout`, in a file unlinked at once.
    fn make_buffer(&mut self, layout: (wl_shm::Format, u32, u32, u32)) -> Result<ShmBuffer, String> {
        let (format, w, h, stride) = layout;
        let len = u64::from(stride) * u64::from(h);
        let size = i32::try_from(len).map_err(|_| "the output is too large".to_string())?;
        let file = shm_file(len)?;
        let shm = self.state.shm.as_ref().ok_or("no wl_shm")?;
        let qh = self.queue.handle();
        let pool = shm.create_pool(file.as_fd(), size, &qh, ());
        let buffer = pool.create_buffer(
            0,
            i32::try_from(w).map_err(|e| e.to_string())?,
            i32::try_from(h).map_err(|e| e.to_string())?,
            i32::try_from(stride).map_err(|e| e.to_string())?,
            format,
            &qh,
            (),
        );
        pool.destroy();
        debug!(?format, w, h, stride, "screencopy buffer");
        Ok(ShmBuffer { file, buffer, layout })
    }
}

/// An anonymous file of `len` bytes for shared memory (memfd).
fn shm_file(len: u64) -> Result<std::fs::File, String> {
    let fd = rustix::fs::memfd_create("peerdesk-screencopy", rustix::fs::MemfdFlags::CLOEXEC)
        .map_err(|e| format!("memfd_create: {e}"))?;
    let file = std::fs::File::from(fd);
    file.set_len(len).map_err(|e| format!("sizing the frame buffer: {e}"))?;
    Ok(file)
}

/// Turns rows `row` bytes long upside down.
fn flip_rows(px: &mut [u8], row: usize) {
    let rows = px.len() / row.max(1);
    for i in 0..rows / 2 {
        let (top, bottom) = px.split_at_mut((rows - 1 - i) * row);
        top[i * row..(i + 1) * row].swap_with_slice(&mut bottom[..row]);
    }
}

impl Capturer for WlrCapturer {
    fn size(&self) -> (u32, u32) {
        self.size
    }

    fn next_frame(&mut self, deadline: Instant) -> Result<Option<Frame>, CaptureError> {
        match self.slot.take(deadline.saturating_duration_since(Instant::now())) {
            Some(Delivery::Frame(f)) => {
                self.size = (f.width, f.height);
                Ok(Some(f))
            }
            Some(Delivery::Ended(why)) => Err(CaptureError::Ended(why)),
            None if self.slot.is_closed() => {
                Err(CaptureError::Ended("the Wayland compositor went away".into()))
            }
            None => Ok(None),
        }
    }

    fn set_min_interval(&mut self, interval: Duration) {
        self.min_interval_us
            .store(u64::try_from(interval.as_micros()).unwrap_or(u64::MAX), Ordering::Relaxed);
    }
}

impl Drop for WlrCapturer {
    fn drop(&mut self) {
        self.quit.store(true, Ordering::Relaxed);
    }
}

impl Dispatch<wl_registry::WlRegistry, ()> for State {
    fn event(
        state: &mut Self,
        registry: &wl_registry::WlRegistry,
        event: wl_registry::Event,
        _: &(),
        _: &Connection,
        qh: &QueueHandle<Self>,
    ) {
        if let wl_registry::Event::Global { name, interface, version } = event {
            match interface.as_str() {
                "wl_shm" => state.shm = Some(registry.bind(name, 1, qh, ())),
                "zwlr_screencopy_manager_v1" => {
                    state.manager = Some(registry.bind(name, version.min(3), qh, ()))
                }
                "wl_output" => {
                    let output = registry.bind(name, version.min(4), qh, ());
                    state.outputs.push((output, WlrOutput::default()));
                }
                _ => {}
            }
        }
    }
}

impl Dispatch<wl_output::WlOutput, ()> for State {
    fn event(
        state: &mut Self,
        output: &wl_output::WlOutput,
        event: wl_output::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        let Some((_, o)) = state.outputs.iter_mut().find(|(w, _)| w == output) else { return };
        match event {
            wl_output::Event::Name { name } => o.name = name,
            wl_output::Event::Mode { flags: WEnum::Value(f), width, height, .. }
                if f.contains(wl_output::Mode::Current) =>
            {
                o.size = (u32::try_from(width).unwrap_or(0), u32::try_from(height).unwrap_or(0));
            }
            _ => {}
        }
    }
}

impl Dispatch<frame_v1::ZwlrScreencopyFrameV1, ()> for State {
    fn event(
        state: &mut Self,
        frame: &frame_v1::ZwlrScreencopyFrameV1,
        event: frame_v1::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        let c = &mut state.copying;
        match event {
            frame_v1::Event::Buffer { format: WEnum::Value(format), width, height, stride } => {
                c.shm = Some((format, width, height, stride));
                // Before version 3 no buffer_done follows: the shared-memory offer is all.
                if frame.version() < 3 {
                    c.described = true;
                }
            }
            frame_v1::Event::BufferDone => c.described = true,
            frame_v1::Event::Flags { flags: WEnum::Value(f) } => {
                c.y_invert = f.contains(frame_v1::Flags::YInvert);
            }
            frame_v1::Event::Ready { .. } => c.ready = true,
            frame_v1::Event::Failed => c.failed = true,
            _ => {}
        }
    }
}

delegate_noop!(State: ignore wl_shm::WlShm);
delegate_noop!(State: ignore wl_shm_pool::WlShmPool);
delegate_noop!(State: ignore wl_buffer::WlBuffer);
delegate_noop!(State: ignore manager_v1::ZwlrScreencopyManagerV1);

#[cfg(test)]
mod tests {
    use super::flip_rows;

    #[test]
    fn rows_turn_upside_down() {
        let mut px = vec![1, 1, 2, 2, 3, 3];
        flip_rows(&mut px, 2);
        assert_eq!(px, [3, 3, 2, 2, 1, 1]);
        let mut even = vec![1, 2, 3, 4];
        flip_rows(&mut even, 1);
        assert_eq!(even, [4, 3, 2, 1]);
    }
}
