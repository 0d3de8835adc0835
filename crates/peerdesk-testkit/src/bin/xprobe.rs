//! `xprobe --display :N [--fields SPEC]`: an X client for end-to-end tests. Covers the screen
//! with a window (background and colour fields), takes the keyboard focus, and prints every key,
//! button and motion event it receives as one JSON line on stdout. Prints `{"type":"ready"}`
//! once its picture is on the screen.
//!
//! SPEC: `x,y,w,h,RRGGBB;...` (defaults to four fields at known places).
//!
//! `--animate FPS`: also redraws a band of moving colour bars over the middle 70% of the
//! screen FPS times a second (moving content for benchmarks), and with each redraw the Unix time
//! in milliseconds as the test scene's time code (32 black or white blocks where the scene has
//! them, `SceneLayout::timecode`), so glass to glass can be read off an X11 desktop too. And
//! the test scene's marker square, in its colours: every key press flips it at once (and every
//! redraw keeps it), so input to photon can be read too.
//!
//! Commands on stdin, one a line: `cursor-red` sets a 16x16 cursor, red with a transparent
//! left half, hotspot (3, 5), on the window; `cursor-hide` sets a fully transparent one. Each
//! answers `{"type":"cursor-set"}`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::json;
use x11rb::connection::Connection;
use x11rb::protocol::Event;
use x11rb::protocol::xproto::{ChangeWindowAttributesAux, ConnectionExt as _, EventMask, InputFocus};
use x11rb::rust_connection::RustConnection;

fn parse_fields(spec: &str) -> Vec<peerdesk_testkit::Field> {
    spec.split(';')
        .filter(|s| !s.is_empty())
        .map(|f| {
            let p: Vec<&str> = f.split(',').collect();
            assert_eq!(p.len(), 5, "field {f}: x,y,w,h,RRGGBB");
            let c = u32::from_str_radix(p[4], 16).expect("hex colour");
            (
                p[0].parse().expect("x"),
                p[1].parse().expect("y"),
                p[2].parse().expect("w"),
                p[3].parse().expect("h"),
                [(c >> 16) as u8, (c >> 8) as u8, c as u8],
            )
        })
        .collect()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let display = arg("--display").or_else(|| std::env::var("DISPLAY").ok()).expect("--display :N");
    let fields = parse_fields(&arg("--fields").unwrap_or_else(|| {
        "40,40,200,120,e62828;560,40,200,120,28dc3c;40,440,200,120,3250f0;560,440,200,120,f0d232".into()
    }));
    let (conn, screen) = RustConnection::connect(Some(&display)).expect("connect");
    let win = peerdesk_testkit::paint(&conn, screen, [20, 20, 20], &fields);
    let mask = EventMask::EXPOSURE
        | EventMask::KEY_PRESS
        | EventMask::KEY_RELEASE
        | EventMask::BUTTON_PRESS
        | EventMask::BUTTON_RELEASE
        | EventMask::POINTER_MOTION;
    conn.change_window_attributes(win, &ChangeWindowAttributesAux::new().event_mask(mask)).unwrap();
    conn.set_input_focus(InputFocus::POINTER_ROOT, win, x11rb::CURRENT_TIME).unwrap();
    let setup = conn.setup();
    let (min, max) = (setup.min_keycode, setup.max_keycode);
    let fetch = || conn.get_keyboard_mapping(min, max - min + 1).unwrap().reply().unwrap();
    let mut map = fetch();
    let keysym = |map: &x11rb::protocol::xproto::GetKeyboardMappingReply, keycode: u8, shift: bool| -> u32 {
        let per = usize::from(map.keysyms_per_keycode);
        let i = usize::from(keycode - min) * per + usize::from(shift && per > 1);
        map.keysyms.get(i).copied().unwrap_or(0)
    };
    conn.sync_ok();
    let out = std::io::stdout();
    let say = |v: serde_json::Value| {
        let mut o = out.lock();
        let _ = writeln!(o, "{v}");
        let _ = o.flush();
    };
    let marker = Arc::new(AtomicBool::new(false));
    let animated = arg("--animate").map(|f| f.parse::<u32>().expect("--animate FPS"));
    if let Some(fps) = animated {
        let anim_display = display.clone();
        let marker = marker.clone();
        std::thread::spawn(move || animate(&anim_display, win, fps.max(1), &marker));
    }
    say(json!({"type": "ready", "display": display}));
    let cursor_display = display.clone();
    std::thread::spawn(move || {
        let (conn, screen) = RustConnection::connect(Some(&cursor_display)).expect("connect");
        for line in std::io::stdin().lines() {
            let Ok(line) = line else { return };
            let pixels: Vec<u32> = match line.trim() {
                "cursor-red" => (0..256).map(|i| if i % 16 < 8 { 0 } else { 0xffff_0000 }).collect(),
                "cursor-hide" => vec![0; 256],
                _ => continue,
            };
            set_argb_cursor(&conn, screen, win, &pixels, (3, 5));
            let mut o = std::io::stdout().lock();
            let _ = writeln!(o, "{}", json!({"type": "cursor-set"}));
            let _ = o.flush();
        }
    });
    loop {
        let Ok(event) = conn.wait_for_event() else { return };
        match event {
            Event::Expose(_) => peerdesk_testkit::draw(&conn, win, &fields),
            // The keymap changed (text typed through lent keycodes): read it again, as real
            // clients do.
            Event::MappingNotify(_) => map = fetch(),
            Event::KeyPress(e) | Event::KeyRelease(e) => {
                let press = e.response_type & 0x7f == x11rb::protocol::xproto::KEY_PRESS_EVENT;
                let kind = if press { "key_press" } else { "key_release" };
                if press && animated.is_some() {
                    let on = !marker.fetch_xor(true, Ordering::SeqCst);
                    peerdesk_testkit::draw(&conn, win, &[marker_field(&conn, screen, on)]);
                }
                let shift = u16::from(e.state) & 1 != 0;
                say(
                    json!({"type": kind, "keycode": e.detail, "keysym": keysym(&map, e.detail, shift), "state": u16::from(e.state)}),
                );
            }
            Event::ButtonPress(e) | Event::ButtonRelease(e) => {
                let kind = if e.response_type & 0x7f == x11rb::protocol::xproto::BUTTON_PRESS_EVENT {
                    "button_press"
                } else {
                    "button_release"
                };
                say(json!({"type": kind, "button": e.detail, "x": e.root_x, "y": e.root_y}));
            }
            Event::MotionNotify(e) => say(json!({"type": "motion", "x": e.root_x, "y": e.root_y})),
            _ => {}
        }
    }
}

/// The scene's marker square on this screen, in its "on" or "off" colour.
fn marker_field(conn: &RustConnection, screen: usize, on: bool) -> peerdesk_testkit::Field {
    let s = &conn.setup().roots[screen];
    let m = peerdesk_capture::SceneLayout::new(u32::from(s.width_in_pixels), u32::from(s.height_in_pixels))
        .marker;
    let colour = if on { peerdesk_capture::MARKER_ON } else { peerdesk_capture::MARKER_OFF };
    (m.x as i16, m.y as i16, m.w as u16, m.h as u16, colour)
}

/// Redraws moving vertical colour bars over the middle 70% of the screen, `fps` times a second,
/// with the time code and the marker over them.
fn animate(display: &str, win: u32, fps: u32, marker: &AtomicBool) {
    let (conn, screen) = RustConnection::connect(Some(display)).expect("connect");
    let (w, h) = {
        let s = &conn.setup().roots[screen];
        (u32::from(s.width_in_pixels), u32::from(s.height_in_pixels))
    };
    let period = std::time::Duration::from_secs(1) / fps;
    let mut next = std::time::Instant::now();
    for frame in 0u32.. {
        let fields = peerdesk_testkit::animation_frame(w, h, frame, marker.load(Ordering::SeqCst));
        peerdesk_testkit::draw(&conn, win, &fields);
        next += period;
        let now = std::time::Instant::now();
        if next > now {
            std::thread::sleep(next - now);
        } else {
            next = now;
        }
    }
}

/// Sets a 16x16 ARGB cursor (premultiplied pixels) on `win` through the RENDER extension.
fn set_argb_cursor(conn: &RustConnection, screen: usize, win: u32, pixels: &[u32], (hx, hy): (u16, u16)) {
    use x11rb::protocol::render::{ConnectionExt as _, CreatePictureAux, PictType};
    use x11rb::protocol::xproto::{CreateGCAux, ImageFormat};
    let root = conn.setup().roots[screen].root;
    let formats = conn.render_query_pict_formats().unwrap().reply().unwrap();
    let argb = formats
        .formats
        .iter()
        .find(|f| {
            f.type_ == PictType::DIRECT
                && f.depth == 32
                && f.direct.alpha_mask == 0xff
                && f.direct.red_shift == 16
        })
        .expect("an ARGB32 picture format")
        .id;
    let pixmap = conn.generate_id().unwrap();
    conn.create_pixmap(32, pixmap, root, 16, 16).unwrap();
    let gc = conn.generate_id().unwrap();
    conn.create_gc(gc, pixmap, &CreateGCAux::new()).unwrap();
    let data: Vec<u8> = pixels.iter().flat_map(|p| p.to_le_bytes()).collect();
    conn.put_image(ImageFormat::Z_PIXMAP, pixmap, gc, 16, 16, 0, 0, 0, 32, &data).unwrap();
    let picture = conn.generate_id().unwrap();
    conn.render_create_picture(picture, pixmap, argb, &CreatePictureAux::new()).unwrap();
    let cursor = conn.generate_id().unwrap();
    conn.render_create_cursor(cursor, picture, hx, hy).unwrap();
    conn.change_window_attributes(win, &ChangeWindowAttributesAux::new().cursor(cursor)).unwrap();
    conn.sync_ok();
}

trait SyncOk {
    fn sync_ok(&self);
}

impl SyncOk for RustConnection {
    fn sync_ok(&self) {
        self.get_input_focus().unwrap().reply().unwrap();
    }
}
