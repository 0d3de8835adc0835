//! The X11 CLIPBOARD selection, text only: a thread of its own watches the owner (XFixes) and
//! reads every new copy as UTF-8 (INCR transfers included); setting it makes our window the
//! owner, and the thread answers other clients' requests until something else copies.

use std::sync::{Arc, Mutex};

use tracing::{debug, warn};
use x11rb::connection::{Connection, RequestConnection};
use x11rb::protocol::Event;
use x11rb::protocol::xfixes::{self, ConnectionExt as _};
use x11rb::protocol::xproto::{self, ConnectionExt as _};
use x11rb::rust_connection::RustConnection;
use x11rb::wrapper::ConnectionExt as _;

use crate::{Clipboard, InputError};

struct Atoms {
    clipboard: xproto::Atom,
    utf8: xproto::Atom,
    targets: xproto::Atom,
    text: xproto::Atom,
    incr: xproto::Atom,
    ours: xproto::Atom,
}

/// The shared half: the connection and the text we own, if we own the selection.
struct Shared {
    conn: RustConnection,
    window: xproto::Window,
    atoms: Atoms,
    owned: Mutex<Option<Arc<str>>>,
    limit: usize,
}

/// The X11 clipboard of one display.
pub struct X11Clipboard {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for X11Clipboard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("X11Clipboard").field("window", &self.shared.window).finish_non_exhaustive()
    }
}

fn conn_err(e: impl std::fmt::Display) -> InputError {
    InputError::Connection(e.to_string())
}

/// Opens the clipboard of `display` (default `$DISPLAY`). `on_copy` is called on the watching
/// thread with every text something else on the display copies (at most `limit` bytes; longer
/// copies are skipped with a log line).
pub fn open_clipboard(
    display: Option<&str>,
    limit: usize,
    on_copy: Box<dyn FnMut(String) + Send>,
) -> Result<Arc<dyn Clipboard>, InputError> {
    let (conn, screen) = super::connect(display)?;
    if conn.extension_information(xfixes::X11_EXTENSION_NAME).map_err(conn_err)?.is_none() {
        return Err(InputError::Unsupported(
            "the X server lacks XFIXES, so copies on the host cannot be followed",
        ));
    }
    conn.xfixes_query_version(5, 0).map_err(conn_err)?.reply().map_err(conn_err)?;
    let root = conn.setup().roots[screen].root;
    let window = conn.generate_id().map_err(conn_err)?;
    conn.create_window(
        x11rb::COPY_DEPTH_FROM_PARENT,
        window,
        root,
        -10,
        -10,
        1,
        1,
        0,
        xproto::WindowClass::INPUT_ONLY,
        x11rb::COPY_FROM_PARENT,
        &xproto::CreateWindowAux::new().event_mask(xproto::EventMask::PROPERTY_CHANGE),
    )
    .map_err(conn_err)?;
    let intern = |n: &str| -> Result<xproto::Atom, InputError> {
        Ok(conn.intern_atom(false, n.as_bytes()).map_err(conn_err)?.reply().map_err(conn_err)?.atom)
    };
    let atoms = Atoms {
        clipboard: intern("CLIPBOARD")?,
        utf8: intern("UTF8_STRING")?,
        targets: intern("TARGETS")?,
        text: intern("TEXT")?,
        incr: intern("INCR")?,
        ours: intern("PEERDESK_CLIPBOARD")?,
    };
    conn.xfixes_select_selection_input(
        window,
        atoms.clipboard,
        xfixes::SelectionEventMask::SET_SELECTION_OWNER
            | xfixes::SelectionEventMask::SELECTION_WINDOW_DESTROY
            | xfixes::SelectionEventMask::SELECTION_CLIENT_CLOSE,
    )
    .map_err(conn_err)?;
    conn.flush().map_err(conn_err)?;
    let shared = Arc::new(Shared { conn, window, atoms, owned: Mutex::new(None), limit });
    let watcher = shared.clone();
    std::thread::Builder::new()
        .name("clipboard".into())
        .spawn(move || {
            let mut reader = Reader { shared: watcher, on_copy, incoming: None, last: None };
            if let Err(e) = reader.run() {
                warn!("the host's clipboard is no longer followed: {e}");
            }
        })
        .map_err(|e| InputError::Connection(e.to_string()))?;
    Ok(Arc::new(X11Clipboard { shared }))
}

impl Clipboard for X11Clipboard {
    fn set_text(&self, text: &str) -> Result<(), InputError> {
        let s = &self.shared;
        *s.owned.lock().unwrap_or_else(|p| p.into_inner()) = Some(Arc::from(text));
        s.conn.set_selection_owner(s.window, s.atoms.clipboard, x11rb::CURRENT_TIME).map_err(conn_err)?;
        let owner =
            s.conn.get_selection_owner(s.atoms.clipboard).map_err(conn_err)?.reply().map_err(conn_err)?;
        if owner.owner != s.window {
            return Err(InputError::Connection("another client kept the clipboard".into()));
        }
        Ok(())
    }
}

/// An INCR transfer under way.
struct Incoming {
    bytes: Vec<u8>,
    too_large: bool,
}

struct Reader {
    shared: Arc<Shared>,
    on_copy: Box<dyn FnMut(String) + Send>,
    incoming: Option<Incoming>,
    /// The last text passed on, not to pass the same twice.
    last: Option<String>,
}

impl Reader {
    fn run(&mut self) -> Result<(), InputError> {
        loop {
            let event = self.shared.conn.wait_for_event().map_err(conn_err)?;
            match event {
                // Something else copied: ask for its text.
                Event::XfixesSelectionNotify(ev)
                    if ev.selection == self.shared.atoms.clipboard
                        && ev.owner != self.shared.window
                        && ev.owner != x11rb::NONE =>
                {
                    self.ask(self.shared.atoms.utf8, ev.selection_timestamp)?;
                }
                Event::SelectionNotify(ev) if ev.requestor == self.shared.window => {
                    if ev.property == x11rb::NONE {
                        // No UTF-8 on offer: Latin-1 then, if the owner has that.
                        if ev.target == self.shared.atoms.utf8 {
                            self.ask(xproto::AtomEnum::STRING.into(), ev.time)?;
                        }
                        continue;
                    }
                    self.read_reply(ev.target)?;
                }
                Event::PropertyNotify(ev)
                    if ev.window == self.shared.window
                        && ev.atom == self.shared.atoms.ours
                        && ev.state == xproto::Property::NEW_VALUE
                        && self.incoming.is_some() =>
                {
                    self.read_chunk()?;
                }
                Event::SelectionRequest(ev) => self.answer(&ev)?,
                Event::SelectionClear(ev) if ev.selection == self.shared.atoms.clipboard => {
                    *self.shared.owned.lock().unwrap_or_else(|p| p.into_inner()) = None;
                }
                _ => {}
            }
        }
    }

    fn ask(&self, target: xproto::Atom, time: xproto::Timestamp) -> Result<(), InputError> {
        let s = &self.shared;
        s.conn
            .convert_selection(s.window, s.atoms.clipboard, target, s.atoms.ours, time)
            .map_err(conn_err)?;
        s.conn.flush().map_err(conn_err)
    }

    fn read_reply(&mut self, target: xproto::Atom) -> Result<(), InputError> {
        let s = &self.shared;
        let limit = u32::try_from(s.limit / 4 + 1).unwrap_or(u32::MAX);
        let reply = s
            .conn
            .get_property(true, s.window, s.atoms.ours, xproto::AtomEnum::ANY, 0, limit)
            .map_err(conn_err)?
            .reply()
            .map_err(conn_err)?;
        if reply.type_ == s.atoms.incr {
            // Deleting the property (done above) asks for the first chunk.
            self.incoming = Some(Incoming { bytes: Vec::new(), too_large: false });
            return s.conn.flush().map_err(conn_err);
        }
        if reply.bytes_after > 0 || reply.value.len() > s.limit {
            self.too_large(reply.value.len() + reply.bytes_after as usize);
            return Ok(());
        }
        let text = decode(reply.value, target == s.atoms.utf8);
        self.deliver(text);
        Ok(())
    }

    fn read_chunk(&mut self) -> Result<(), InputError> {
        let s = &self.shared;
        let reply = s
            .conn
            .get_property(true, s.window, s.atoms.ours, xproto::AtomEnum::ANY, 0, u32::MAX / 4)
            .map_err(conn_err)?
            .reply()
            .map_err(conn_err)?;
        s.conn.flush().map_err(conn_err)?;
        let Some(incoming) = self.incoming.as_mut() else { return Ok(()) };
        if reply.value.is_empty() {
            let done = self.incoming.take();
            if let Some(done) = done {
                if done.too_large {
                    self.too_large(done.bytes.len());
                } else {
                    self.deliver(decode(done.bytes, reply.type_ != u32::from(xproto::AtomEnum::STRING)));
                }
            }
            return Ok(());
        }
        // Keep reading to the end (the owner waits for us), but keep nothing over the limit.
        if incoming.bytes.len() + reply.value.len() > s.limit {
            incoming.too_large = true;
        } else {
            incoming.bytes.extend_from_slice(&reply.value);
        }
        Ok(())
    }

    fn too_large(&self, len: usize) {
        warn!(
            "the host's clipboard holds {} KiB of text; only up to {} KiB crosses to viewers",
            len / 1024,
            self.shared.limit / 1024
        );
    }

    fn deliver(&mut self, text: String) {
        if text.is_empty() || self.last.as_deref() == Some(text.as_str()) {
            return;
        }
        debug!(bytes = text.len(), "the host's clipboard changed");
        self.last = Some(text.clone());
        (self.on_copy)(text);
    }

    /// Another client asks for what we own.
    fn answer(&self, ev: &xproto::SelectionRequestEvent) -> Result<(), InputError> {
        let s = &self.shared;
        let a = &s.atoms;
        let owned = s.owned.lock().unwrap_or_else(|p| p.into_inner()).clone();
        // Obsolete clients name no property: the target is the property then.
        let property = if ev.property == x11rb::NONE { ev.target } else { ev.property };
        let string: xproto::Atom = xproto::AtomEnum::STRING.into();
        let done = match owned {
            Some(_) if ev.selection != a.clipboard => false,
            None => false,
            Some(_) if ev.target == a.targets => {
                s.conn
                    .change_property32(
                        xproto::PropMode::REPLACE,
                        ev.requestor,
                        property,
                        xproto::AtomEnum::ATOM,
                        &[a.targets, a.utf8, a.text, string],
                    )
                    .map_err(conn_err)?;
                true
            }
            Some(text) if ev.target == a.utf8 || ev.target == a.text => {
                s.conn
                    .change_property8(
                        xproto::PropMode::REPLACE,
                        ev.requestor,
                        property,
                        a.utf8,
                        text.as_bytes(),
                    )
                    .map_err(conn_err)?;
                true
            }
            Some(text) if ev.target == string => {
                let latin1: Vec<u8> =
                    text.chars().map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?')).collect();
                s.conn
                    .change_property8(xproto::PropMode::REPLACE, ev.requestor, property, string, &latin1)
                    .map_err(conn_err)?;
                true
            }
            Some(_) => false,
        };
        let notify = xproto::SelectionNotifyEvent {
            response_type: xproto::SELECTION_NOTIFY_EVENT,
            sequence: 0,
            time: ev.time,
            requestor: ev.requestor,
            selection: ev.selection,
            target: ev.target,
            property: if done { property } else { x11rb::NONE },
        };
        s.conn.send_event(false, ev.requestor, xproto::EventMask::NO_EVENT, notify).map_err(conn_err)?;
        s.conn.flush().map_err(conn_err)
    }
}

/// Clipboard bytes as text: UTF-8 (invalid sequences replaced) or Latin-1.
fn decode(bytes: Vec<u8>, utf8: bool) -> String {
    if utf8 {
        String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
    } else {
        bytes.iter().map(|&b| char::from(b)).collect()
    }
}
