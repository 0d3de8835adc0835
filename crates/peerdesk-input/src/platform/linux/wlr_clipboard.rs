//! The clipboard of a wlroots compositor (sway and its kin), text only, through
//! wlr-data-control: a thread of its own follows the selection and reads each new copy (on a
//! short-lived thread, so a copy of our own can be answered meanwhile); setting it offers our
//! text until something else copies.

use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tracing::{debug, info, warn};
use wayland_client::protocol::{wl_registry, wl_seat};
use wayland_client::{Connection, Dispatch, EventQueue, QueueHandle, delegate_noop, event_created_child};
use wayland_protocols_wlr::data_control::v1::client::{
    zwlr_data_control_device_v1 as device_v1, zwlr_data_control_manager_v1 as manager_v1,
    zwlr_data_control_offer_v1 as offer_v1, zwlr_data_control_source_v1 as source_v1,
};

use crate::{Clipboard, InputError};

/// Text types, most wanted first.
const TEXT_TYPES: [&str; 5] = ["text/plain;charset=utf-8", "UTF8_STRING", "text/plain", "TEXT", "STRING"];
/// Longest a copy may take to arrive.
const READ_TIMEOUT: Duration = Duration::from_secs(2);

type OnCopy = Arc<Mutex<Box<dyn FnMut(String) + Send>>>;

struct State {
    seat: Option<wl_seat::WlSeat>,
    manager: Option<manager_v1::ZwlrDataControlManagerV1>,
    /// Offers as they are described: the types of each.
    offers: Vec<(offer_v1::ZwlrDataControlOfferV1, Vec<String>)>,
    shared: Arc<Shared>,
    on_copy: OnCopy,
    conn: Connection,
}

/// What the thread and [`WlrClipboard::set_text`] share.
struct Shared {
    owned: Mutex<Option<(source_v1::ZwlrDataControlSourceV1, Arc<str>)>>,
    limit: usize,
}

/// The clipboard of a wlroots compositor.
pub struct WlrClipboard {
    conn: Connection,
    qh: QueueHandle<State>,
    device: device_v1::ZwlrDataControlDeviceV1,
    manager: manager_v1::ZwlrDataControlManagerV1,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for WlrClipboard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WlrClipboard").finish_non_exhaustive()
    }
}

fn conn_err(e: impl std::fmt::Display) -> InputError {
    InputError::Connection(e.to_string())
}

/// Opens the clipboard of the compositor at `$WAYLAND_DISPLAY`; `on_copy` gets every text
/// something else copies (at most `limit` bytes; longer copies are skipped with a log line).
pub fn open_wlr_clipboard(
    limit: usize,
    on_copy: Box<dyn FnMut(String) + Send>,
) -> Result<Arc<dyn Clipboard>, InputError> {
    let conn = Connection::connect_to_env().map_err(conn_err)?;
    let mut queue: EventQueue<State> = conn.new_event_queue();
    let qh = queue.handle();
    conn.display().get_registry(&qh, ());
    let shared = Arc::new(Shared { owned: Mutex::new(None), limit });
    let mut state = State {
        seat: None,
        manager: None,
        offers: Vec::new(),
        shared: shared.clone(),
        on_copy: Arc::new(Mutex::new(on_copy)),
        conn: conn.clone(),
    };
    queue.roundtrip(&mut state).map_err(conn_err)?;
    let (Some(seat), Some(manager)) = (state.seat.clone(), state.manager.clone()) else {
        return Err(InputError::Unsupported(
            "this Wayland compositor lets no other program see its clipboard (no wlr-data-control)",
        ));
    };
    let device = manager.get_data_device(&seat, &qh, ());
    conn.flush().map_err(conn_err)?;
    std::thread::Builder::new()
        .name("peerdesk-clipboard".into())
        .spawn(move || {
            loop {
                if let Err(e) = queue.blocking_dispatch(&mut state) {
                    warn!("lost the Wayland compositor's clipboard: {e}");
                    break;
                }
            }
        })
        .map_err(|e| InputError::Connection(e.to_string()))?;
    info!("the clipboard is shared through the compositor's wlr-data-control");
    Ok(Arc::new(WlrClipboard { conn, qh, device, manager, shared }))
}

impl Clipboard for WlrClipboard {
    fn set_text(&self, text: &str) -> Result<(), InputError> {
        let source = self.manager.create_data_source(&self.qh, ());
        for t in TEXT_TYPES {
            source.offer(t.to_owned());
        }
        let previous = self
            .shared
            .owned
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .replace((source.clone(), Arc::from(text)));
        self.device.set_selection(Some(&source));
        if let Some((old, _)) = previous {
            old.destroy();
        }
        self.conn.flush().map_err(conn_err)
    }
}

/// Reads a copy from `fd` (at most `limit` bytes, within [`READ_TIMEOUT`]) on a thread of its
/// own, and hands it to `on_copy` unless it is the text we own.
fn read_copy(fd: OwnedFd, shared: Arc<Shared>, on_copy: OnCopy) {
    let spawned = std::thread::Builder::new().name("peerdesk-clipboard-read".into()).spawn(move || {
        let mut file = std::fs::File::from(fd);
        let mut bytes = Vec::new();
        let deadline = std::time::Instant::now() + READ_TIMEOUT;
        let mut chunk = [0u8; 16384];
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let mut fds = [rustix::event::PollFd::new(&file, rustix::event::PollFlags::IN)];
            let timeout = rustix::event::Timespec {
                tv_sec: left.as_secs() as i64,
                tv_nsec: i64::from(left.subsec_nanos()),
            };
            match rustix::event::poll(&mut fds, Some(&timeout)) {
                Ok(0) | Err(_) => {
                    debug!("a copy on the desktop did not arrive in time; skipped");
                    return;
                }
                Ok(_) => {}
            }
            match file.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => {
                    bytes.extend_from_slice(&chunk[..n]);
                    if bytes.len() > shared.limit {
                        warn!(
                            "a copy on the desktop is over {} bytes; not sent to the viewers",
                            shared.limit
                        );
                        return;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return,
            }
        }
        let Ok(text) = String::from_utf8(bytes) else {
            debug!("a copy on the desktop is not UTF-8 text; skipped");
            return;
        };
        let ours = shared
            .owned
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref()
            .is_some_and(|(_, t)| **t == *text);
        if !ours && !text.is_empty() {
            (on_copy.lock().unwrap_or_else(std::sync::PoisonError::into_inner))(text);
        }
    });
    if let Err(e) = spawned {
        warn!("cannot read a copy on the desktop: {e}");
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
                "wl_seat" if state.seat.is_none() => {
                    state.seat = Some(registry.bind(name, version.min(5), qh, ()))
                }
                "zwlr_data_control_manager_v1" => {
                    state.manager = Some(registry.bind(name, version.min(2), qh, ()))
                }
                _ => {}
            }
        }
    }
}

impl Dispatch<device_v1::ZwlrDataControlDeviceV1, ()> for State {
    fn event(
        state: &mut Self,
        _: &device_v1::ZwlrDataControlDeviceV1,
        event: device_v1::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        match event {
            device_v1::Event::DataOffer { id } => state.offers.push((id, Vec::new())),
            device_v1::Event::Selection { id } => {
                // Offers other than the new selection are done with.
                let offers = std::mem::take(&mut state.offers);
                let mut chosen = None;
                for (offer, types) in offers {
                    if id.as_ref() == Some(&offer) {
                        chosen = Some((offer, types));
                    } else {
                        offer.destroy();
                    }
                }
                let Some((offer, types)) = chosen else { return };
                let Some(mime) = TEXT_TYPES.iter().find(|t| types.iter().any(|o| o == *t)) else {
                    offer.destroy();
                    return;
                };
                match rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC) {
                    Ok((read, write)) => {
                        offer.receive((*mime).to_owned(), write.as_fd());
                        drop(write);
                        let _ = state.conn.flush();
                        read_copy(read, state.shared.clone(), state.on_copy.clone());
                    }
                    Err(e) => warn!("cannot read a copy on the desktop: {e}"),
                }
                offer.destroy();
            }
            device_v1::Event::PrimarySelection { id: Some(offer) } => {
                state.offers.retain(|(o, _)| *o != offer);
                offer.destroy();
            }
            device_v1::Event::Finished => warn!("the compositor ended the clipboard device"),
            _ => {}
        }
    }

    event_created_child!(State, device_v1::ZwlrDataControlDeviceV1, [
        device_v1::EVT_DATA_OFFER_OPCODE => (offer_v1::ZwlrDataControlOfferV1, ()),
    ]);
}

impl Dispatch<offer_v1::ZwlrDataControlOfferV1, ()> for State {
    fn event(
        state: &mut Self,
        offer: &offer_v1::ZwlrDataControlOfferV1,
        event: offer_v1::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if let offer_v1::Event::Offer { mime_type } = event
            && let Some((_, types)) = state.offers.iter_mut().find(|(o, _)| o == offer)
            && types.len() < 64
        {
            types.push(mime_type);
        }
    }
}

impl Dispatch<source_v1::ZwlrDataControlSourceV1, ()> for State {
    fn event(
        state: &mut Self,
        source: &source_v1::ZwlrDataControlSourceV1,
        event: source_v1::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        match event {
            source_v1::Event::Send { fd, .. } => {
                let text = state
                    .shared
                    .owned
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .as_ref()
                    .filter(|(s, _)| s == source)
                    .map(|(_, t)| t.clone());
                if let Some(text) = text {
                    // On a thread: the reader may be slow, and may be us.
                    let _ =
                        std::thread::Builder::new().name("peerdesk-clipboard-send".into()).spawn(move || {
                            let _ = std::fs::File::from(fd).write_all(text.as_bytes());
                        });
                }
            }
            source_v1::Event::Cancelled => {
                let mut owned = state.shared.owned.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                if owned.as_ref().is_some_and(|(s, _)| s == source) {
                    *owned = None;
                }
                source.destroy();
            }
            _ => {}
        }
    }
}

delegate_noop!(State: ignore wl_seat::WlSeat);
delegate_noop!(State: ignore manager_v1::ZwlrDataControlManagerV1);
