//! The pointer's shape, captured apart from the picture so the browser can draw it locally.

/// A cursor image: straight (not premultiplied) RGBA, row by row, with its hotspot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CursorImage {
    /// Changes whenever the shape changes.
    pub serial: u32,
    /// Width in pixels.
    pub width: u16,
    /// Height in pixels.
    pub height: u16,
    /// Hotspot, from the left.
    pub hot_x: u16,
    /// Hotspot, from the top.
    pub hot_y: u16,
    /// `width * height * 4` bytes of RGBA.
    pub rgba: Vec<u8>,
}

impl CursorImage {
    /// Builds an image from X's premultiplied ARGB pixels (one `u32` each).
    pub fn from_argb_premultiplied(
        serial: u32,
        (width, height): (u16, u16),
        (hot_x, hot_y): (u16, u16),
        argb: &[u32],
    ) -> Self {
        let mut rgba = Vec::with_capacity(argb.len() * 4);
        for &p in argb.iter().take(usize::from(width) * usize::from(height)) {
            let a = (p >> 24) as u8;
            let un = |c: u32| -> u8 {
                let c = (c & 0xff) as u16;
                if a == 0 { 0 } else { ((c * 255 + u16::from(a) / 2) / u16::from(a)).min(255) as u8 }
            };
            rgba.extend_from_slice(&[un(p >> 16), un(p >> 8), un(p), a]);
        }
        Self { serial, width, height, hot_x, hot_y, rgba }
    }

    /// Builds an image from a Windows colour cursor: `bgra` its colour bitmap and `and_mask` its
    /// AND mask, both read as 32-bit top-down rows (a set mask bit reads as white). A colour
    /// bitmap with alpha is taken as it is; one without (every alpha byte zero, an old-style
    /// cursor) is opaque where the mask is clear.
    pub fn from_windows_color(
        serial: u32,
        (width, height): (u16, u16),
        (hot_x, hot_y): (u16, u16),
        bgra: &[u8],
        and_mask: &[u8],
    ) -> Self {
        let n = usize::from(width) * usize::from(height);
        let (bgra, and_mask) = (&bgra[..(n * 4).min(bgra.len())], &and_mask[..(n * 4).min(and_mask.len())]);
        let has_alpha = bgra.chunks_exact(4).any(|p| p[3] != 0);
        let mut rgba = Vec::with_capacity(n * 4);
        for (i, p) in bgra.chunks_exact(4).enumerate() {
            let a = if has_alpha {
                p[3]
            } else if and_mask.get(i * 4).is_some_and(|&m| m >= 0x80) {
                0
            } else {
                255
            };
            rgba.extend_from_slice(&[p[2], p[1], p[0], a]);
        }
        rgba.resize(n * 4, 0);
        Self { serial, width, height, hot_x, hot_y, rgba }
    }

    /// Builds an image from a Windows monochrome cursor: `mask` is its mask bitmap read as
    /// 32-bit top-down rows, twice the cursor's height (the AND mask above the XOR mask; a set
    /// bit reads as white). AND 0 XOR 0 is black, AND 0 XOR 1 white, AND 1 XOR 0 transparent;
    /// AND 1 XOR 1 inverts the screen, which a picture cannot: it is drawn black (the text
    /// cursor is made of those, and black shows on the light backgrounds text is usually on).
    pub fn from_windows_mono(
        serial: u32,
        (width, height): (u16, u16),
        (hot_x, hot_y): (u16, u16),
        mask: &[u8],
    ) -> Self {
        let n = usize::from(width) * usize::from(height);
        let bit = |i: usize| mask.get(i * 4).is_some_and(|&m| m >= 0x80);
        let mut rgba = Vec::with_capacity(n * 4);
        for i in 0..n {
            let pixel = match (bit(i), bit(n + i)) {
                (false, false) => [0, 0, 0, 255],
                (false, true) => [255, 255, 255, 255],
                (true, false) => [0, 0, 0, 0],
                (true, true) => [0, 0, 0, 255],
            };
            rgba.extend_from_slice(&pixel);
        }
        Self { serial, width, height, hot_x, hot_y, rgba }
    }

    /// Whether no pixel is visible (a hidden cursor, as games set).
    pub fn is_invisible(&self) -> bool {
        self.rgba.chunks_exact(4).all(|p| p[3] == 0)
    }
}

/// Where the pointer is, in pixels of the captured area (the chosen monitor or the whole
/// screen): `(0, 0)` is its top-left pixel. Outside `0..width` x `0..height` the pointer is on
/// another monitor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CursorPosition {
    /// From the area's left edge.
    pub x: i32,
    /// From the area's top edge.
    pub y: i32,
    /// The area's width.
    pub width: u32,
    /// The area's height.
    pub height: u32,
}

/// What a cursor watcher reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CursorEvent {
    /// The shape changed.
    Shape(CursorImage),
    /// The pointer moved (or the captured area changed under it).
    Position(CursorPosition),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unpremultiplies_and_detects_invisible_cursors() {
        let c = CursorImage::from_argb_premultiplied(1, (2, 1), (0, 0), &[0xff_ff_00_00, 0x80_40_00_00]);
        assert_eq!(c.rgba, vec![255, 0, 0, 255, 128, 0, 0, 128]);
        assert!(!c.is_invisible());
        let hidden = CursorImage::from_argb_premultiplied(2, (1, 1), (0, 0), &[0]);
        assert!(hidden.is_invisible());
    }

    const SET: [u8; 4] = [255, 255, 255, 0];
    const CLEAR: [u8; 4] = [0, 0, 0, 0];

    #[test]
    fn windows_colour_cursors_keep_their_alpha_or_take_the_mask() {
        // With alpha: BGRA becomes RGBA, alpha as it is, the mask ignored.
        let bgra = [10, 20, 30, 255, 1, 2, 3, 128, 0, 0, 0, 0];
        let mask = [SET, SET, CLEAR].concat();
        let c = CursorImage::from_windows_color(1, (3, 1), (1, 0), &bgra, &mask);
        assert_eq!(c.rgba, vec![30, 20, 10, 255, 3, 2, 1, 128, 0, 0, 0, 0]);
        assert_eq!((c.hot_x, c.hot_y), (1, 0));
        // Without: opaque where the AND mask is clear.
        let bgra = [10, 20, 30, 0, 40, 50, 60, 0];
        let c = CursorImage::from_windows_color(2, (2, 1), (0, 0), &bgra, &[CLEAR, SET].concat());
        assert_eq!(c.rgba, vec![30, 20, 10, 255, 60, 50, 40, 0]);
        // Short buffers (a bitmap smaller than it said) give transparent pixels, never a panic.
        let c = CursorImage::from_windows_color(3, (2, 2), (0, 0), &bgra, &[]);
        assert_eq!(c.rgba.len(), 16);
        assert_eq!(&c.rgba[8..], &[0; 8]);
    }

    #[test]
    fn windows_monochrome_cursors_follow_the_and_xor_table() {
        // 4x1: AND row then XOR row.
        let mask = [CLEAR, CLEAR, SET, SET, CLEAR, SET, CLEAR, SET].concat();
        let c = CursorImage::from_windows_mono(1, (4, 1), (0, 0), &mask);
        assert_eq!(
            c.rgba,
            [[0, 0, 0, 255], [255, 255, 255, 255], [0, 0, 0, 0], [0, 0, 0, 255]].concat(),
            "black, white, transparent, inverted drawn black"
        );
        assert!(!c.is_invisible());
        // All AND, no XOR: nothing shows (a hidden cursor).
        let hidden = CursorImage::from_windows_mono(2, (2, 1), (0, 0), &[SET, SET, CLEAR, CLEAR].concat());
        assert!(hidden.is_invisible());
        // A truncated mask: the missing bits read as clear, no panic.
        assert_eq!(CursorImage::from_windows_mono(3, (2, 2), (0, 0), &[]).rgba.len(), 16);
    }
}
