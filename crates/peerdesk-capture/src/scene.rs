//! The built-in animated test scene: runs anywhere, reacts to input, and has known colours at
//! known places so tests can check the picture that reaches a browser.
//!
//! Layout at W x H (all sizes rounded down to whole pixels):
//! - background `BACKGROUND`;
//! - four patches of side H/4: red top-left, green top-right, blue bottom-left, yellow
//!   bottom-right, each W*6/100 from its side edge and H/10 from its top or bottom edge;
//! - a marker square of side H/5 in the centre, cyan, turning magenta and back on every key
//!   press or mouse button press;
//! - a grey bar W/80 wide sweeping left to right every 2 s behind everything (so every frame
//!   differs);
//! - a white dot with a dark ring where the viewer's pointer is;
//! - a beat square of side H/8, centred at the top H/10 from the top edge, white for the first
//!   [`BEAT_FLASH`] of every second since the scene started, invisible otherwise. The scene's
//!   sound (peerdesk-audio's `ToneSource`) beeps at the same moments, so A/V sync can be seen;
//! - a time code along the bottom: [`TIMECODE_BITS`] blocks, each W/48 wide (at least 4 px) and
//!   H/24 high, centred, its bottom 4 px above the bottom edge (2 px when H < 480), white for 1
//!   and black for 0, most significant bit on the left: the low 32 bits of the Unix time in
//!   milliseconds at which the frame was drawn. A browser on the same machine reads it to time
//!   each frame from drawing to presentation (glass to glass).

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::{CaptureError, Capturer, Frame, validate_size};

/// Background colour (RGB).
pub const BACKGROUND: [u8; 3] = [22, 26, 34];
/// The four patches' colours (RGB): top-left, top-right, bottom-left, bottom-right.
pub const PATCH_COLOURS: [[u8; 3]; 4] = [[230, 50, 50], [50, 200, 80], [50, 90, 230], [240, 210, 50]];
/// The marker's colour when off (RGB).
pub const MARKER_OFF: [u8; 3] = [40, 200, 220];
/// The marker's colour when on (RGB).
pub const MARKER_ON: [u8; 3] = [230, 60, 200];
const BAR: [u8; 3] = [150, 150, 165];
const DOT: [u8; 3] = [255, 255, 255];
const RING: [u8; 3] = [0, 0, 0];
const SWEEP: Duration = Duration::from_secs(2);
/// The beat square's colour while it flashes (RGB).
pub const BEAT_COLOUR: [u8; 3] = [255, 255, 255];
/// How long the beat square shows at the start of every second.
pub const BEAT_FLASH: Duration = Duration::from_millis(100);
/// Blocks in the time code.
pub const TIMECODE_BITS: u32 = 32;

/// A rectangle in pixels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rect {
    /// Left edge.
    pub x: u32,
    /// Top edge.
    pub y: u32,
    /// Width.
    pub w: u32,
    /// Height.
    pub h: u32,
}

impl Rect {
    /// The centre point.
    pub fn centre(&self) -> (u32, u32) {
        (self.x + self.w / 2, self.y + self.h / 2)
    }
}

/// Where the scene's fixed elements are at a given size.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SceneLayout {
    /// The four patches, in the order of [`PATCH_COLOURS`].
    pub patches: [Rect; 4],
    /// The marker square.
    pub marker: Rect,
    /// The beat square (flashes with the beat tone).
    pub beat: Rect,
    /// The time code strip; block `i` (from the left) is `block` wide starting at `x + i * block`.
    pub timecode: Rect,
    /// Width of one time code block.
    pub block: u32,
}

impl SceneLayout {
    /// The layout at `width` x `height`.
    pub fn new(width: u32, height: u32) -> Self {
        let s = height / 4;
        let mx = width * 6 / 100;
        let my = height / 10;
        let right = width.saturating_sub(mx + s);
        let bottom = height.saturating_sub(my + s);
        let m = height / 5;
        let block = (width / 48).max(4).min(width / TIMECODE_BITS);
        Self {
            patches: [
                Rect { x: mx, y: my, w: s, h: s },
                Rect { x: right, y: my, w: s, h: s },
                Rect { x: mx, y: bottom, w: s, h: s },
                Rect { x: right, y: bottom, w: s, h: s },
            ],
            marker: Rect { x: (width - m) / 2, y: (height - m) / 2, w: m, h: m },
            beat: Rect { x: (width - height / 8) / 2, y: my, w: height / 8, h: height / 8 },
            timecode: Rect {
                x: (width - block * TIMECODE_BITS) / 2,
                y: height - height / 24 - if height < 480 { 2 } else { 4 },
                w: block * TIMECODE_BITS,
                h: height / 24,
            },
            block,
        }
    }
}

/// What the viewers did to the scene.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SceneInput {
    /// The pointer, as fractions of width and height.
    pub pointer: Option<(f32, f32)>,
    /// Whether the marker shows its "on" colour.
    pub marker_on: bool,
    /// How many times the marker was toggled.
    pub toggles: u64,
}

/// A handle that feeds input to a running [`TestScene`]; cheap to clone, usable from any thread.
#[derive(Clone, Debug, Default)]
pub struct SceneControl(Arc<Mutex<SceneInput>>);

impl SceneControl {
    fn lock(&self) -> MutexGuard<'_, SceneInput> {
        // Plain data: valid even if a holder panicked.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Moves the pointer dot; `x` and `y` are fractions of the width and height, clamped to 0..=1.
    pub fn pointer_to(&self, x: f32, y: f32) {
        self.lock().pointer = Some((x.clamp(0.0, 1.0), y.clamp(0.0, 1.0)));
    }

    /// Flips the marker's colour.
    pub fn toggle_marker(&self) {
        let mut s = self.lock();
        s.marker_on = !s.marker_on;
        s.toggles += 1;
    }

    /// A copy of the current input state.
    pub fn snapshot(&self) -> SceneInput {
        self.lock().clone()
    }
}

/// The synthetic source: renders the scene at a fixed size and frame rate.
#[derive(Debug)]
pub struct TestScene {
    width: u32,
    height: u32,
    period: Duration,
    start: Instant,
    /// Unix time of `start`, in milliseconds (for the time code).
    start_unix_ms: u64,
    next_due: Instant,
    layout: SceneLayout,
    control: SceneControl,
    /// One row of background pixels, copied into every row of a new frame.
    background_row: Vec<u8>,
}

impl TestScene {
    /// A scene of `width` x `height` at `fps` frames per second.
    pub fn new(width: u32, height: u32, fps: u32) -> Result<Self, CaptureError> {
        validate_size(width, height)?;
        let fps = fps.clamp(1, 240);
        let now = Instant::now();
        Ok(Self {
            width,
            height,
            period: Duration::from_secs(1) / fps,
            start: now,
            start_unix_ms: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
            next_due: now,
            layout: SceneLayout::new(width, height),
            control: SceneControl::default(),
            background_row: bgra(BACKGROUND).repeat(width as usize),
        })
    }

    /// The handle that feeds input to this scene.
    pub fn control(&self) -> SceneControl {
        self.control.clone()
    }

    /// When the scene's clock started (its beat falls on whole seconds from here).
    pub fn started(&self) -> Instant {
        self.start
    }

    /// The same moment as Unix time in milliseconds (what the time code counts from).
    pub fn started_unix_ms(&self) -> u64 {
        self.start_unix_ms
    }

    /// Renders the scene as it looks `elapsed` after start.
    pub fn render(&self, elapsed: Duration) -> Frame {
        let started = Instant::now();
        let (w, h) = (self.width, self.height);
        let stride = w as usize * 4;
        let mut data = Vec::with_capacity(stride * h as usize);
        for _ in 0..h {
            data.extend_from_slice(&self.background_row);
        }
        let input = self.control.snapshot();

        let bar_w = (w / 80).max(2);
        let phase = (elapsed.as_secs_f64() % SWEEP.as_secs_f64()) / SWEEP.as_secs_f64();
        let bar_x = (phase * f64::from(w.saturating_sub(bar_w))) as u32;
        fill_rect(&mut data, stride, Rect { x: bar_x, y: 0, w: bar_w, h }, BAR);
        for (rect, colour) in self.layout.patches.iter().zip(PATCH_COLOURS) {
            fill_rect(&mut data, stride, *rect, colour);
        }
        if elapsed.as_nanos() % 1_000_000_000 < BEAT_FLASH.as_nanos() {
            fill_rect(&mut data, stride, self.layout.beat, BEAT_COLOUR);
        }
        let code = (self.start_unix_ms + elapsed.as_millis() as u64) as u32;
        let tc = self.layout.timecode;
        for bit in 0..TIMECODE_BITS {
            let on = code >> (TIMECODE_BITS - 1 - bit) & 1 == 1;
            let block = Rect { x: tc.x + bit * self.layout.block, y: tc.y, w: self.layout.block, h: tc.h };
            fill_rect(&mut data, stride, block, if on { [255, 255, 255] } else { [0, 0, 0] });
        }
        let marker = if input.marker_on { MARKER_ON } else { MARKER_OFF };
        fill_rect(&mut data, stride, self.layout.marker, marker);
        if let Some((fx, fy)) = input.pointer {
            let cx = (fx * w as f32) as i64;
            let cy = (fy * h as f32) as i64;
            let r = i64::from((h / 60).max(4));
            fill_disc(&mut data, stride, (w, h), (cx, cy), r + 2, RING);
            fill_disc(&mut data, stride, (w, h), (cx, cy), r, DOT);
        }
        Frame { width: w, height: h, stride, data, captured_at: started, capture_time: started.elapsed() }
    }
}

impl Capturer for TestScene {
    fn size(&self) -> (u32, u32) {
        (self.width, self.height)
    }

    fn next_frame(&mut self, deadline: Instant) -> Result<Option<Frame>, CaptureError> {
        // The scene is a clock-driven source: it waits for its next tick. Falling more than a
        // frame behind skips ahead instead of rendering a burst.
        let now = Instant::now();
        if self.next_due > deadline {
            std::thread::sleep(deadline.saturating_duration_since(now));
            return Ok(None);
        }
        if self.next_due > now {
            std::thread::sleep(self.next_due - now);
        } else if now - self.next_due > self.period {
            self.next_due = now;
        }
        self.next_due += self.period;
        Ok(Some(self.render(self.start.elapsed())))
    }
}

fn bgra([r, g, b]: [u8; 3]) -> [u8; 4] {
    [b, g, r, 255]
}

fn fill_rect(data: &mut [u8], stride: usize, r: Rect, colour: [u8; 3]) {
    let px = bgra(colour);
    let rows = data.len() / stride;
    let width = stride / 4;
    let x0 = (r.x as usize).min(width);
    let x1 = (r.x as usize + r.w as usize).min(width);
    for y in (r.y as usize)..(r.y as usize + r.h as usize).min(rows) {
        let row = &mut data[y * stride + x0 * 4..y * stride + x1 * 4];
        for p in row.chunks_exact_mut(4) {
            p.copy_from_slice(&px);
        }
    }
}

fn fill_disc(
    data: &mut [u8],
    stride: usize,
    (w, h): (u32, u32),
    (cx, cy): (i64, i64),
    r: i64,
    colour: [u8; 3],
) {
    let px = bgra(colour);
    for y in (cy - r).max(0)..(cy + r + 1).min(i64::from(h)) {
        let dy = y - cy;
        let half = ((r * r - dy * dy) as f64).sqrt() as i64;
        let x0 = (cx - half).max(0);
        let x1 = (cx + half + 1).min(i64::from(w));
        if x0 >= x1 {
            continue;
        }
        let start = y as usize * stride + x0 as usize * 4;
        let end = y as usize * stride + x1 as usize * 4;
        for p in data[start..end].chunks_exact_mut(4) {
            p.copy_from_slice(&px);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rgb(f: &Frame, (x, y): (u32, u32)) -> [u8; 3] {
        let p = f.pixel(x, y).expect("inside");
        [p[2], p[1], p[0]]
    }

    #[test]
    fn known_colours_at_known_places_and_input_changes_them() {
        let scene = TestScene::new(640, 360, 30).expect("valid size");
        let layout = SceneLayout::new(640, 360);
        let f = scene.render(Duration::ZERO);
        for (rect, colour) in layout.patches.iter().zip(PATCH_COLOURS) {
            assert_eq!(rgb(&f, rect.centre()), colour);
        }
        assert_eq!(rgb(&f, layout.marker.centre()), MARKER_OFF);
        assert_eq!(rgb(&f, (320, 10)), BACKGROUND);

        let c = scene.control();
        c.toggle_marker();
        c.pointer_to(0.5, 0.05);
        let f = scene.render(Duration::ZERO);
        assert_eq!(rgb(&f, layout.marker.centre()), MARKER_ON);
        assert_eq!(rgb(&f, (320, 18)), DOT);
        assert_eq!(c.snapshot().toggles, 1);
    }

    #[test]
    fn the_beat_square_flashes_for_the_first_100_ms_of_each_second() {
        let scene = TestScene::new(640, 360, 30).expect("valid size");
        let beat = SceneLayout::new(640, 360).beat;
        for (ms, on) in
            [(0, true), (99, true), (100, false), (999, false), (1000, true), (2050, true), (2150, false)]
        {
            let f = scene.render(Duration::from_millis(ms));
            // Off, the square is not drawn: background, or the sweeping bar passing behind.
            assert_eq!(rgb(&f, beat.centre()) == BEAT_COLOUR, on, "at {ms} ms");
        }
        for p in SceneLayout::new(640, 360).patches {
            let apart = beat.x + beat.w <= p.x || p.x + p.w <= beat.x;
            assert!(apart, "the beat square does not cover a patch");
        }
    }

    #[test]
    fn the_time_code_says_when_the_frame_was_drawn() {
        let scene = TestScene::new(1280, 720, 30).expect("valid size");
        let l = SceneLayout::new(1280, 720);
        assert_eq!((l.block, l.timecode.w, l.timecode.h), (26, 832, 30));
        assert!(l.timecode.y > l.patches[2].y + l.patches[2].h, "below the bottom patches");
        assert!(l.timecode.y + l.timecode.h <= 720);
        let elapsed = Duration::from_millis(1234);
        let f = scene.render(elapsed);
        let mut code = 0u32;
        for bit in 0..TIMECODE_BITS {
            let (x, y) = (l.timecode.x + bit * l.block + l.block / 2, l.timecode.y + l.timecode.h / 2);
            let [r, g, b] = rgb(&f, (x, y));
            assert!([r, g, b] == [255; 3] || [r, g, b] == [0; 3], "block {bit} is black or white");
            code = code << 1 | u32::from(r == 255);
        }
        assert_eq!(code, (scene.start_unix_ms + 1234) as u32);
        for (w, h) in [(640, 360), (320, 240), (1920, 1080), (3840, 2160)] {
            let l = SceneLayout::new(w, h);
            assert!(l.timecode.x + l.timecode.w <= w && l.block >= 4, "{w}x{h}");
            assert!(l.timecode.y > l.patches[2].y + l.patches[2].h, "{w}x{h}");
        }
    }

    #[test]
    fn the_bar_moves() {
        let scene = TestScene::new(640, 360, 30).expect("valid size");
        let a = scene.render(Duration::from_millis(100));
        let b = scene.render(Duration::from_millis(600));
        assert_ne!(a.data, b.data);
    }

    #[test]
    fn odd_or_empty_sizes_are_refused() {
        assert!(TestScene::new(641, 360, 30).is_err());
        assert!(TestScene::new(0, 360, 30).is_err());
        assert!(TestScene::new(10_000, 360, 30).is_err());
    }
}
