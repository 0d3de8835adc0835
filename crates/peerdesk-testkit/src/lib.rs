//! Test helpers: an Xvfb server of the test's own (killed by PID on drop) and X clients that
//! paint known pictures. Used by the capture and input tests and, through the `xprobe` binary,
//! by the browser end-to-end tests.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use x11rb::connection::Connection;
use x11rb::protocol::xproto::{
    ChangeWindowAttributesAux, ConnectionExt as _, CreateGCAux, CreateWindowAux, EventMask, Rectangle,
    WindowClass,
};
use x11rb::rust_connection::RustConnection;
use x11rb::wrapper::ConnectionExt as _;

/// An Xvfb server started for one test; killed (by its PID) when dropped.
#[derive(Debug)]
pub struct Xvfb {
    child: Child,
    /// The display name, such as `:42`.
    pub display: String,
}

impl Xvfb {
    /// Starts Xvfb at `width` x `height` x 24 on a free display number. Xvfb picks the number
    /// and reports it on stdout once it accepts connections (`-displayfd`), so nothing waits on
    /// a timer.
    pub fn start(width: u32, height: u32) -> Self {
        Self::start_with(width, height, &[])
    }

    /// Like [`start`](Self::start) with more Xvfb arguments, such as `-extension MIT-SHM` to
    /// run without an extension.
    pub fn start_with(width: u32, height: u32, extra: &[&str]) -> Self {
        let mut child = Command::new("Xvfb")
            .args(["-displayfd", "1", "-nolisten", "tcp", "-screen", "0"])
            .arg(format!("{width}x{height}x24"))
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("Xvfb runs (scripts/setup.sh --test installs it)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout piped"))
            .read_line(&mut line)
            .expect("read displayfd");
        let n: u32 = line.trim().parse().expect("Xvfb printed its display number");
        Self { child, display: format!(":{n}") }
    }

    /// A new client connection to this server.
    pub fn connect(&self) -> (RustConnection, usize) {
        RustConnection::connect(Some(&self.display)).expect("connect to our Xvfb")
    }

    /// Kills the server now (to test a display that dies).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A rectangle of one colour: x, y, width, height, RGB.
pub type Field = (i16, i16, u16, u16, [u8; 3]);

/// Frame `frame` of the benchmark's animation on a `w` x `h` screen: vertical colour bars moving
/// over the middle 70%, the time code for now (low 32 bits of the Unix time in ms) and the marker
/// (on or off) where the test scene draws them, so glass to glass and input to photon can be
/// read off any desktop (xprobe on X11, waylandpaint on Wayland).
pub fn animation_frame(w: u32, h: u32, frame: u32, marker_on: bool) -> Vec<Field> {
    let (wi, hi) = (w as i32, h as i32);
    let (top, band) = (hi * 15 / 100, hi * 70 / 100);
    let bar = 40;
    let mut fields: Vec<Field> = (0..wi / bar + 2)
        .map(|i| {
            let x = i * bar - (frame as i32 * 7) % bar;
            let v = ((i as u32 * 37 + frame * 3) % 200) as u8;
            (x as i16, top as i16, bar as u16, band as u16, [v, 255 - v, (v / 2).wrapping_add(frame as u8)])
        })
        .collect();
    let layout = peerdesk_capture::SceneLayout::new(w, h);
    let tc = layout.timecode;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let code = now.as_millis() as u32;
    fields.extend((0..peerdesk_capture::TIMECODE_BITS).map(|bit| {
        let on = code >> (peerdesk_capture::TIMECODE_BITS - 1 - bit) & 1 == 1;
        let v = if on { 255 } else { 0 };
        ((tc.x + bit * layout.block) as i16, tc.y as i16, layout.block as u16, tc.h as u16, [v, v, v])
    }));
    let m = layout.marker;
    let colour = if marker_on { peerdesk_capture::MARKER_ON } else { peerdesk_capture::MARKER_OFF };
    fields.push((m.x as i16, m.y as i16, m.w as u16, m.h as u16, colour));
    fields
}

/// Covers the screen with a window showing `background` and `fields`, and keeps it painted;
/// returns once the picture is on the screen. The window lives as long as the connection. It
/// is at least 4096x4096, so it still covers the screen after the screen grows (xrandr).
pub fn paint(conn: &RustConnection, screen: usize, background: [u8; 3], fields: &[Field]) -> u32 {
    let s = &conn.setup().roots[screen];
    let win = conn.generate_id().unwrap();
    conn.create_window(
        s.root_depth,
        win,
        s.root,
        0,
        0,
        s.width_in_pixels.max(4096),
        s.height_in_pixels.max(4096),
        0,
        WindowClass::INPUT_OUTPUT,
        0,
        &CreateWindowAux::new()
            .background_pixel(pixel(background))
            .override_redirect(1)
            .event_mask(EventMask::EXPOSURE),
    )
    .unwrap();
    conn.map_window(win).unwrap();
    draw(conn, win, fields);
    win
}

/// Draws `fields` into `win` and waits until the server has done it.
pub fn draw(conn: &RustConnection, win: u32, fields: &[Field]) {
    for &(x, y, w, h, rgb) in fields {
        let gc = conn.generate_id().unwrap();
        conn.create_gc(gc, win, &CreateGCAux::new().foreground(pixel(rgb))).unwrap();
        conn.poly_fill_rectangle(win, gc, &[Rectangle { x, y, width: w, height: h }]).unwrap();
        conn.free_gc(gc).unwrap();
    }
    conn.sync().unwrap();
}

/// Sets a window's background and clears it (a full repaint in one colour).
pub fn fill(conn: &RustConnection, win: u32, rgb: [u8; 3]) {
    conn.change_window_attributes(win, &ChangeWindowAttributesAux::new().background_pixel(pixel(rgb)))
        .unwrap();
    conn.clear_area(false, win, 0, 0, 0, 0).unwrap();
    conn.sync().unwrap();
}

/// The pixel value of an RGB colour on a 24-bit TrueColor screen.
pub fn pixel([r, g, b]: [u8; 3]) -> u32 {
    (u32::from(r) << 16) | (u32::from(g) << 8) | u32::from(b)
}

/// Whether two colours differ by at most `tol` in every channel.
pub fn near(a: [u8; 3], b: [u8; 3], tol: u8) -> bool {
    a.iter().zip(b).all(|(x, y)| x.abs_diff(y) <= tol)
}
