//! The Windows clipboard, text only (`CF_UNICODETEXT`): a thread of its own keeps a
//! message-only window that Windows tells of every clipboard change
//! (`AddClipboardFormatListener`); it reads each copy another program makes and, asked by
//! [`Clipboard::set_text`], puts the viewers' pastes there as the clipboard's owner (so its own
//! copies are not read back). Line ends: `\r\n` on Windows, `\n` towards the page.

#![allow(unsafe_code)]

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tracing::{debug, warn};
use windows_sys::Win32::Foundation::{HWND, LPARAM, LRESULT, WPARAM};
use windows_sys::Win32::System::DataExchange::{
    AddClipboardFormatListener, CloseClipboard, EmptyClipboard, GetClipboardData, GetClipboardOwner,
    IsClipboardFormatAvailable, OpenClipboard, SetClipboardData,
};
use windows_sys::Win32::System::LibraryLoader::GetModuleHandleW;
use windows_sys::Win32::System::Memory::{GMEM_MOVEABLE, GlobalAlloc, GlobalLock, GlobalSize, GlobalUnlock};
use windows_sys::Win32::UI::WindowsAndMessaging::{
    CreateWindowExW, DefWindowProcW, DispatchMessageW, GetMessageW, HWND_MESSAGE, MSG, PostMessageW,
    RegisterClassW, WM_APP, WM_CLIPBOARDUPDATE, WNDCLASSW,
};

use crate::newlines::{to_crlf, to_lf};
use crate::{Clipboard, InputError};

/// Text in UTF-16 (winuser.h's `CF_UNICODETEXT`).
const CF_UNICODETEXT: u32 = 13;
/// Posted to our window: a paste waits in the queue.
const WM_SET: u32 = WM_APP + 1;
/// Posted to our window by its procedure: the clipboard changed.
const WM_CHANGED: u32 = WM_APP + 2;
/// How long another program may hold the clipboard open before we give up on one access.
const OPEN_TRIES: u32 = 20;
const OPEN_WAIT: Duration = Duration::from_millis(5);

type Reply = mpsc::Sender<Result<(), InputError>>;

/// The clipboard of the interactive desktop.
pub struct WindowsClipboard {
    /// Our window, as an integer (a window handle may be used from any thread).
    window: isize,
    pastes: Mutex<mpsc::Sender<(String, Reply)>>,
}

impl std::fmt::Debug for WindowsClipboard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WindowsClipboard").field("window", &self.window).finish_non_exhaustive()
    }
}

/// Opens the clipboard. `on_copy` is called on the clipboard's thread with every text another
/// program copies (at most `limit` bytes of UTF-8; longer copies are skipped with a log line).
pub fn open_clipboard(
    _display: Option<&str>,
    limit: usize,
    on_copy: Box<dyn FnMut(String) + Send>,
) -> Result<Arc<dyn Clipboard>, InputError> {
    let (ready_tx, ready_rx) = mpsc::channel();
    let (paste_tx, paste_rx) = mpsc::channel::<(String, Reply)>();
    std::thread::Builder::new()
        .name("clipboard".into())
        .spawn(move || {
            let window = match make_window() {
                Ok(w) => w,
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                    return;
                }
            };
            let _ = ready_tx.send(Ok(window as isize));
            let mut watcher = Watcher { window, limit, on_copy, last: None };
            watcher.run(&paste_rx);
        })
        .map_err(|e| InputError::Connection(e.to_string()))?;
    let window = ready_rx
        .recv_timeout(Duration::from_secs(5))
        .map_err(|_| InputError::Connection("the clipboard's thread did not start".into()))??;
    Ok(Arc::new(WindowsClipboard { window, pastes: Mutex::new(paste_tx) }))
}

impl Clipboard for WindowsClipboard {
    fn set_text(&self, text: &str) -> Result<(), InputError> {
        let (reply_tx, reply_rx) = mpsc::channel();
        let sent = self.pastes.lock().unwrap_or_else(|p| p.into_inner()).send((text.to_owned(), reply_tx));
        // SAFETY: posting a message to a window handle is safe whatever the handle; ours
        // lives as long as its thread.
        let posted = unsafe { PostMessageW(self.window as HWND, WM_SET, 0, 0) } != 0;
        if sent.is_err() || !posted {
            return Err(InputError::Connection("the clipboard's thread has ended".into()));
        }
        reply_rx
            .recv_timeout(Duration::from_secs(2))
            .map_err(|_| InputError::Connection("the clipboard did not answer in time".into()))?
    }
}

unsafe extern "system" fn window_proc(window: HWND, msg: u32, wparam: WPARAM, lparam: LPARAM) -> LRESULT {
    if msg == WM_CLIPBOARDUPDATE {
        // Handled in the message loop, where the watcher is.
        // SAFETY: posting to our own window.
        unsafe { PostMessageW(window, WM_CHANGED, 0, 0) };
        return 0;
    }
    // SAFETY: the default procedure for every other message, with what we were given.
    unsafe { DefWindowProcW(window, msg, wparam, lparam) }
}

/// A message-only window that listens for clipboard changes.
fn make_window() -> Result<HWND, InputError> {
    let class: Vec<u16> = "peerdesk-clipboard\0".encode_utf16().collect();
    // SAFETY: the class name is NUL-terminated and outlives the calls that read it; the
    // window procedure is a plain function; a message-only window (parent HWND_MESSAGE) is
    // never shown. Registering the class twice (a second host in the process) fails
    // harmlessly and the window is made with the class already there.
    unsafe {
        let instance = GetModuleHandleW(std::ptr::null());
        let wc = WNDCLASSW {
            lpfnWndProc: Some(window_proc),
            hInstance: instance,
            lpszClassName: class.as_ptr(),
            // SAFETY: the rest of WNDCLASSW is integers and handles, valid when zero.
            ..std::mem::zeroed()
        };
        RegisterClassW(&raw const wc);
        let window = CreateWindowExW(
            0,
            class.as_ptr(),
            class.as_ptr(),
            0,
            0,
            0,
            0,
            0,
            HWND_MESSAGE,
            std::ptr::null_mut(),
            instance,
            std::ptr::null(),
        );
        if window.is_null() {
            return Err(InputError::Connection("Windows would not make the clipboard's window".into()));
        }
        if AddClipboardFormatListener(window) == 0 {
            return Err(InputError::Connection("Windows would not report clipboard changes".into()));
        }
        Ok(window)
    }
}

/// Opens the clipboard for `window`, waiting a little while another program has it open.
fn open(window: HWND) -> bool {
    for _ in 0..OPEN_TRIES {
        // SAFETY: `window` is our live window.
        if unsafe { OpenClipboard(window) } != 0 {
            return true;
        }
        std::thread::sleep(OPEN_WAIT);
    }
    false
}

struct Watcher {
    window: HWND,
    limit: usize,
    on_copy: Box<dyn FnMut(String) + Send>,
    /// The last text passed on, not to pass the same twice.
    last: Option<String>,
}

impl Watcher {
    fn run(&mut self, pastes: &mpsc::Receiver<(String, Reply)>) {
        // SAFETY: an all-zero MSG is valid.
        let mut msg: MSG = unsafe { std::mem::zeroed() };
        // SAFETY: `msg` is a valid MSG; the loop ends when the thread's queue is gone.
        while unsafe { GetMessageW(&raw mut msg, std::ptr::null_mut(), 0, 0) } > 0 {
            match msg.message {
                WM_SET => {
                    while let Ok((text, reply)) = pastes.try_recv() {
                        let _ = reply.send(self.write(&text));
                    }
                }
                WM_CHANGED => self.read(),
                // SAFETY: a message of our own thread's queue, as GetMessageW gave it.
                _ => unsafe {
                    DispatchMessageW(&raw const msg);
                },
            }
        }
        warn!("the host's clipboard is no longer followed");
    }

    /// Reads a copy another program made.
    fn read(&mut self) {
        // SAFETY: the clipboard calls below are made between our OpenClipboard and
        // CloseClipboard; the handle GetClipboardData returns belongs to the clipboard and is
        // only read, between GlobalLock and GlobalUnlock, within GlobalSize bytes.
        let text = unsafe {
            if GetClipboardOwner() == self.window || IsClipboardFormatAvailable(CF_UNICODETEXT) == 0 {
                return;
            }
            if !open(self.window) {
                return warn!("another program holds the clipboard open; its copy is not passed on");
            }
            let data = GetClipboardData(CF_UNICODETEXT);
            let locked = if data.is_null() { std::ptr::null_mut() } else { GlobalLock(data) };
            let text = if locked.is_null() {
                None
            } else {
                let units = std::slice::from_raw_parts(locked.cast::<u16>(), GlobalSize(data) / 2);
                let end = units.iter().position(|&u| u == 0).unwrap_or(units.len());
                // Every UTF-16 unit is at least one byte of UTF-8: longer than the limit in
                // units is too long for sure, and is not converted at all.
                let text =
                    if end > self.limit { Err(end) } else { Ok(String::from_utf16_lossy(&units[..end])) };
                GlobalUnlock(data);
                Some(text)
            };
            CloseClipboard();
            text
        };
        match text {
            None => {}
            Some(Err(units)) => self.too_large(units),
            Some(Ok(text)) => {
                let text = to_lf(&text);
                if text.len() > self.limit {
                    return self.too_large(text.len());
                }
                if text.is_empty() || self.last.as_deref() == Some(text.as_str()) {
                    return;
                }
                debug!(bytes = text.len(), "the host's clipboard changed");
                self.last = Some(text.clone());
                (self.on_copy)(text);
            }
        }
    }

    fn too_large(&self, len: usize) {
        warn!(
            "the host's clipboard holds over {} KiB of text; only up to {} KiB crosses to viewers",
            len / 1024,
            self.limit / 1024
        );
    }

    /// Puts a viewer's paste on the clipboard, as its owner.
    fn write(&mut self, text: &str) -> Result<(), InputError> {
        let wide: Vec<u16> = to_crlf(text).encode_utf16().chain(std::iter::once(0)).collect();
        let bytes = wide.len() * 2;
        if !open(self.window) {
            return Err(InputError::Connection("another program holds the clipboard open".into()));
        }
        // SAFETY: between our OpenClipboard and CloseClipboard; the memory is allocated here
        // with `bytes` bytes, written within them while locked, and handed to the clipboard
        // (which owns it from then on) or freed when it refuses.
        let ok = unsafe {
            EmptyClipboard();
            let mem = GlobalAlloc(GMEM_MOVEABLE, bytes);
            let locked = if mem.is_null() { std::ptr::null_mut() } else { GlobalLock(mem) };
            let ok = if locked.is_null() {
                false
            } else {
                std::ptr::copy_nonoverlapping(wide.as_ptr(), locked.cast::<u16>(), wide.len());
                GlobalUnlock(mem);
                if SetClipboardData(CF_UNICODETEXT, mem).is_null() {
                    windows_sys::Win32::Foundation::GlobalFree(mem);
                    false
                } else {
                    true
                }
            };
            CloseClipboard();
            ok
        };
        if !ok {
            return Err(InputError::Connection("Windows refused the text for the clipboard".into()));
        }
        // The same text copied back later is not news.
        self.last = Some(text.to_owned());
        Ok(())
    }
}
