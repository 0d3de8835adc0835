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
}
