//! A native Wayland client for the Wayland tests: one full-screen window painted a known
//! colour (orange; green after an odd number of key presses, so a key's effect shows in the
//! picture), recording on stdout, a line each, the input it receives:
//!
//! ```text
//! ready 1280x720     (once full screen, at the size the compositor gave)
//! key 30 down          (evdev codes, as Wayland sends them)
//! button 0x110 up
//! motion 640 360       (surface pixels)
//! scroll vertical 15.00
//! notches vertical 1  (wheel clicks, where the compositor tells them)
//! focus keyboard | blur keyboard | focus pointer 12 40 | blur pointer
//! ```
//!
//! Runs until killed or its compositor goes away. `--seconds N` ends it after N seconds.
//! `--animate FPS` paints the benchmark's picture instead, FPS times a second (moving bars, the
//! time code, the marker flipped by each key: `peerdesk_testkit::animation_frame`), as xprobe
//! does on X11.

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("waylandpaint: Linux only");
    std::process::exit(2);
}

#[cfg(target_os = "linux")]
fn main() {
    if let Err(e) = linux::run() {
        eprintln!("waylandpaint: {e}");
        std::process::exit(1);
    }
}

#[cfg(target_os = "linux")]
mod linux {
    use std::io::Write;
    use std::os::fd::AsFd;
    use std::time::{Duration, Instant};

    use wayland_client::protocol::{
        wl_buffer, wl_compositor, wl_keyboard, wl_pointer, wl_registry, wl_seat, wl_shm, wl_shm_pool,
        wl_surface,
    };
    use wayland_client::{Connection, Dispatch, EventQueue, QueueHandle, WEnum, delegate_noop};
    use wayland_protocols::xdg::shell::client::{xdg_surface, xdg_toplevel, xdg_wm_base};

    const ORANGE: u32 = 0xffff_8000;
    const GREEN: u32 = 0xff00_c040;
    /// The test scene's background (RGB).
    const BACKGROUND: [u8; 3] = [22, 26, 34];

    #[derive(Default)]
    struct App {
        compositor: Option<wl_compositor::WlCompositor>,
        shm: Option<wl_shm::WlShm>,
        wm: Option<xdg_wm_base::XdgWmBase>,
        seat: Option<wl_seat::WlSeat>,
        surface: Option<wl_surface::WlSurface>,
        pending_size: (i32, i32),
        size: (i32, i32),
        configured: bool,
        ready: bool,
        presses: u64,
        animate: Option<u32>,
        frame: u32,
        painted: u64,
        counted: Option<Instant>,
        dirty: bool,
        closed: bool,
        buffer: Option<wl_buffer::WlBuffer>,
        keyboard: Option<wl_keyboard::WlKeyboard>,
        pointer: Option<wl_pointer::WlPointer>,
    }

    fn say(line: std::fmt::Arguments<'_>) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }

    impl App {
        /// Paints the whole window in its colour into a fresh shared-memory buffer.
        fn paint(&mut self, qh: &QueueHandle<Self>) -> Result<(), String> {
            let (Some(shm), Some(surface)) = (&self.shm, &self.surface) else { return Ok(()) };
            let (w, h) = self.size;
            let stride = w * 4;
            let len = usize::try_from(stride * h).map_err(|e| e.to_string())?;
            let dir = std::env::var("XDG_RUNTIME_DIR").unwrap_or_else(|_| "/tmp".into());
            let path = format!("{dir}/waylandpaint-{}", std::process::id());
            let mut file = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(true)
                .open(&path)
                .map_err(|e| format!("{path}: {e}"))?;
            let _ = std::fs::remove_file(&path);
            let all = match self.animate {
                // The benchmark's picture: bars, time code and marker (on after an odd number
                // of key presses) over the test scene's background.
                Some(_) => {
                    let fields = peerdesk_testkit::animation_frame(
                        w as u32,
                        h as u32,
                        self.frame,
                        self.presses % 2 == 1,
                    );
                    draw_fields(w as usize, h as usize, &fields)
                }
                None => {
                    let colour = if self.presses % 2 == 1 { GREEN } else { ORANGE };
                    let row: Vec<u8> =
                        std::iter::repeat_n(colour.to_le_bytes(), w as usize).flatten().collect();
                    let mut all = Vec::with_capacity(len);
                    for _ in 0..h {
                        all.extend_from_slice(&row);
                    }
                    all
                }
            };
            file.write_all(&all).map_err(|e| e.to_string())?;
            let pool = shm.create_pool(file.as_fd(), stride * h, qh, ());
            let buffer = pool.create_buffer(0, w, h, stride, wl_shm::Format::Xrgb8888, qh, ());
            pool.destroy();
            surface.attach(Some(&buffer), 0, 0);
            surface.damage_buffer(0, 0, w, h);
            surface.commit();
            if let Some(old) = self.buffer.replace(buffer) {
                old.destroy();
            }
            self.dirty = false;
            // How fast it paints, when animating: a line on stderr every 5 s (the benchmark
            // reports it, to tell the client's pace from the host's).
            if self.animate.is_some() {
                self.painted += 1;
                let since = self.counted.get_or_insert_with(Instant::now);
                if since.elapsed() >= Duration::from_secs(5) {
                    eprintln!("painted {:.1} fps", self.painted as f64 / since.elapsed().as_secs_f64());
                    self.painted = 0;
                    *since = Instant::now();
                }
            }
            Ok(())
        }
    }

    /// The benchmark's fields on a `w` x `h` XRGB picture over the test scene's background.
    fn draw_fields(w: usize, h: usize, fields: &[peerdesk_testkit::Field]) -> Vec<u8> {
        let [r, g, b] = BACKGROUND;
        let mut px: Vec<u8> = std::iter::repeat_n([b, g, r, 255], w * h).flatten().collect();
        for &(x, y, fw, fh, [r, g, b]) in fields {
            let (x0, y0) = (i64::from(x).max(0) as usize, i64::from(y).max(0) as usize);
            let x1 = (i64::from(x) + i64::from(fw)).clamp(0, w as i64) as usize;
            let y1 = (i64::from(y) + i64::from(fh)).clamp(0, h as i64) as usize;
            for row in y0..y1 {
                for p in px[(row * w + x0) * 4..(row * w + x1.max(x0)) * 4].chunks_exact_mut(4) {
                    p.copy_from_slice(&[b, g, r, 255]);
                }
            }
        }
        px
    }

    /// Handles the compositor's events until `until` (or the first that comes after it).
    fn dispatch_until(
        conn: &Connection,
        queue: &mut EventQueue<App>,
        app: &mut App,
        until: Instant,
    ) -> Result<(), String> {
        queue.dispatch_pending(app).map_err(|e| e.to_string())?;
        conn.flush().map_err(|e| e.to_string())?;
        let Some(guard) = queue.prepare_read() else { return Ok(()) };
        let left = until.saturating_duration_since(Instant::now());
        let fd = guard.connection_fd();
        let mut fds = [rustix::event::PollFd::new(&fd, rustix::event::PollFlags::IN)];
        let timeout = rustix::event::Timespec {
            tv_sec: left.as_secs() as i64,
            tv_nsec: i64::from(left.subsec_nanos()),
        };
        if rustix::event::poll(&mut fds, Some(&timeout)).map_err(|e| e.to_string())? > 0 {
            match guard.read() {
                Ok(_) => {}
                // Readable, yet nothing whole to read yet.
                Err(wayland_client::backend::WaylandError::Io(e))
                    if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(format!("the compositor went away: {e}")),
            }
        }
        queue.dispatch_pending(app).map_err(|e| e.to_string())?;
        Ok(())
    }

    pub fn run() -> Result<(), String> {
        let mut args = std::env::args().skip(1);
        let mut seconds = None;
        let mut animate = None;
        while let Some(a) = args.next() {
            match a.as_str() {
                "--seconds" => seconds = args.next().and_then(|s| s.parse::<u64>().ok()),
                "--animate" => animate = args.next().and_then(|s| s.parse::<u32>().ok()).filter(|&f| f > 0),
                other => {
                    return Err(format!("unknown argument {other:?} (takes --seconds N, --animate FPS)"));
                }
            }
        }
        let until = seconds.map(|s| Instant::now() + Duration::from_secs(s));
        let conn = Connection::connect_to_env().map_err(|e| format!("no Wayland display: {e}"))?;
        let mut queue = conn.new_event_queue();
        let qh = queue.handle();
        conn.display().get_registry(&qh, ());
        let mut app = App { animate, ..App::default() };
        queue.roundtrip(&mut app).map_err(|e| e.to_string())?;
        let (Some(compositor), Some(wm)) = (&app.compositor, &app.wm) else {
            return Err("the compositor lacks wl_compositor or xdg_wm_base".into());
        };
        if app.shm.is_none() {
            return Err("the compositor lacks wl_shm".into());
        }
        let surface = compositor.create_surface(&qh, ());
        let xdg = wm.get_xdg_surface(&surface, &qh, ());
        let toplevel = xdg.get_toplevel(&qh, ());
        toplevel.set_title("peerdesk test client".into());
        toplevel.set_app_id("peerdesk-waylandpaint".into());
        toplevel.set_fullscreen(None);
        surface.commit();
        app.surface = Some(surface);
        let mut next_frame = Instant::now();
        while !app.closed {
            if until.is_some_and(|u| Instant::now() >= u) {
                break;
            }
            match app.animate {
                None => {
                    queue
                        .blocking_dispatch(&mut app)
                        .map_err(|e| format!("the compositor went away: {e}"))?;
                }
                Some(fps) => {
                    // A frame every 1/FPS s; events between.
                    let now = Instant::now();
                    if now >= next_frame {
                        app.frame = app.frame.wrapping_add(1);
                        app.dirty = true;
                        next_frame = (next_frame + Duration::from_secs(1) / fps).max(now);
                    }
                    dispatch_until(&conn, &mut queue, &mut app, next_frame)?;
                }
            }
            if app.configured && app.dirty {
                app.paint(&qh)?;
            }
        }
        Ok(())
    }

    impl Dispatch<wl_registry::WlRegistry, ()> for App {
        fn event(
            app: &mut Self,
            registry: &wl_registry::WlRegistry,
            event: wl_registry::Event,
            _: &(),
            _: &Connection,
            qh: &QueueHandle<Self>,
        ) {
            if let wl_registry::Event::Global { name, interface, version } = event {
                match interface.as_str() {
                    "wl_compositor" => app.compositor = Some(registry.bind(name, version.min(4), qh, ())),
                    "wl_shm" => app.shm = Some(registry.bind(name, 1, qh, ())),
                    "xdg_wm_base" => app.wm = Some(registry.bind(name, 1, qh, ())),
                    "wl_seat" if app.seat.is_none() => {
                        app.seat = Some(registry.bind(name, version.min(5), qh, ()))
                    }
                    _ => {}
                }
            }
        }
    }

    impl Dispatch<xdg_wm_base::XdgWmBase, ()> for App {
        fn event(
            _: &mut Self,
            wm: &xdg_wm_base::XdgWmBase,
            event: xdg_wm_base::Event,
            _: &(),
            _: &Connection,
            _: &QueueHandle<Self>,
        ) {
            if let xdg_wm_base::Event::Ping { serial } = event {
                wm.pong(serial);
            }
        }
    }

    impl Dispatch<xdg_surface::XdgSurface, ()> for App {
        fn event(
            app: &mut Self,
            xdg: &xdg_surface::XdgSurface,
            event: xdg_surface::Event,
            _: &(),
            _: &Connection,
            _: &QueueHandle<Self>,
        ) {
            if let xdg_surface::Event::Configure { serial } = event {
                xdg.ack_configure(serial);
                let (w, h) = app.pending_size;
                let size = if w > 0 && h > 0 { (w, h) } else { (640, 480) };
                if !app.configured || size != app.size {
                    app.size = size;
                    app.dirty = true;
                    // Ready once the compositor gave the full-screen size (some say 0x0 first).
                    if !app.ready && w > 0 && h > 0 {
                        app.ready = true;
                        say(format_args!("ready {}x{}", size.0, size.1));
                    }
                }
                app.configured = true;
            }
        }
    }

    impl Dispatch<xdg_toplevel::XdgToplevel, ()> for App {
        fn event(
            app: &mut Self,
            _: &xdg_toplevel::XdgToplevel,
            event: xdg_toplevel::Event,
            _: &(),
            _: &Connection,
            _: &QueueHandle<Self>,
        ) {
            match event {
                xdg_toplevel::Event::Configure { width, height, .. } => app.pending_size = (width, height),
                xdg_toplevel::Event::Close => app.closed = true,
                _ => {}
            }
        }
    }

    impl Dispatch<wl_seat::WlSeat, ()> for App {
        fn event(
            app: &mut Self,
            seat: &wl_seat::WlSeat,
            event: wl_seat::Event,
            _: &(),
            _: &Connection,
            qh: &QueueHandle<Self>,
        ) {
            if let wl_seat::Event::Capabilities { capabilities: WEnum::Value(caps) } = event {
                if caps.contains(wl_seat::Capability::Keyboard) && app.keyboard.is_none() {
                    app.keyboard = Some(seat.get_keyboard(qh, ()));
                }
                if caps.contains(wl_seat::Capability::Pointer) && app.pointer.is_none() {
                    app.pointer = Some(seat.get_pointer(qh, ()));
                }
            }
        }
    }

    impl Dispatch<wl_keyboard::WlKeyboard, ()> for App {
        fn event(
            app: &mut Self,
            _: &wl_keyboard::WlKeyboard,
            event: wl_keyboard::Event,
            _: &(),
            _: &Connection,
            _: &QueueHandle<Self>,
        ) {
            match event {
                wl_keyboard::Event::Key { key, state, .. } => {
                    let down = matches!(state, WEnum::Value(wl_keyboard::KeyState::Pressed));
                    say(format_args!("key {key} {}", if down { "down" } else { "up" }));
                    if down {
                        app.presses += 1;
                        app.dirty = true;
                    }
                }
                wl_keyboard::Event::Enter { keys, .. } => {
                    say(format_args!("focus keyboard"));
                    // Keys already down as focus arrives (u32 each, native order).
                    for k in keys.chunks_exact(4) {
                        say(format_args!("held {}", u32::from_ne_bytes([k[0], k[1], k[2], k[3]])));
                    }
                }
                wl_keyboard::Event::Leave { .. } => say(format_args!("blur keyboard")),
                // The keymap's fd is closed as it drops.
                _ => {}
            }
        }
    }

    impl Dispatch<wl_pointer::WlPointer, ()> for App {
        fn event(
            _: &mut Self,
            _: &wl_pointer::WlPointer,
            event: wl_pointer::Event,
            _: &(),
            _: &Connection,
            _: &QueueHandle<Self>,
        ) {
            match event {
                wl_pointer::Event::Enter { surface_x, surface_y, .. } => {
                    say(format_args!("focus pointer {surface_x:.0} {surface_y:.0}"));
                }
                wl_pointer::Event::Leave { .. } => say(format_args!("blur pointer")),
                wl_pointer::Event::Motion { surface_x, surface_y, .. } => {
                    say(format_args!("motion {surface_x:.0} {surface_y:.0}"));
                }
                wl_pointer::Event::Button { button, state, .. } => {
                    let down = matches!(state, WEnum::Value(wl_pointer::ButtonState::Pressed));
                    say(format_args!("button {button:#x} {}", if down { "down" } else { "up" }));
                }
                wl_pointer::Event::Axis { axis, value, .. } => {
                    let axis = match axis {
                        WEnum::Value(wl_pointer::Axis::VerticalScroll) => "vertical",
                        WEnum::Value(wl_pointer::Axis::HorizontalScroll) => "horizontal",
                        _ => "other",
                    };
                    say(format_args!("scroll {axis} {value:.2}"));
                }
                wl_pointer::Event::AxisDiscrete { axis, discrete } => {
                    let axis = match axis {
                        WEnum::Value(wl_pointer::Axis::VerticalScroll) => "vertical",
                        WEnum::Value(wl_pointer::Axis::HorizontalScroll) => "horizontal",
                        _ => "other",
                    };
                    say(format_args!("notches {axis} {discrete}"));
                }
                _ => {}
            }
        }
    }

    delegate_noop!(App: ignore wl_compositor::WlCompositor);
    delegate_noop!(App: ignore wl_shm::WlShm);
    delegate_noop!(App: ignore wl_shm_pool::WlShmPool);
    delegate_noop!(App: ignore wl_buffer::WlBuffer);
    delegate_noop!(App: ignore wl_surface::WlSurface);
}
