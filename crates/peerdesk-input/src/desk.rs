//! Pointer arithmetic shared by the injectors: a wire position (0..=65535 across the streamed
//! area) to a pixel of the desktop, and a pixel to Windows' normalised virtual-desktop units.

/// A rectangle of the desktop: left, top, width, height (pixels).
pub type Rect = (i32, i32, u32, u32);

/// The pixel of `area` at wire position (`x`, `y`), each 0..=65535 (v/65536 of the size).
pub fn to_pixel(x: u16, y: u16, (left, top, width, height): Rect) -> (i32, i32) {
    let along = |v: u16, len: u32| ((u64::from(v) * u64::from(len)) >> 16) as i64;
    let px = i64::from(left) + along(x, width);
    let py = i64::from(top) + along(y, height);
    (
        px.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32,
        py.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32,
    )
}

/// A desktop pixel in the units of `SendInput`'s `MOUSEEVENTF_ABSOLUTE | MOUSEEVENTF_VIRTUALDESK`:
/// 0..=65535 across the virtual desktop `desk`, landing on that exact pixel.
pub fn to_virtual_desk((px, py): (i32, i32), (left, top, width, height): Rect) -> (i32, i32) {
    let norm = |p: i32, origin: i32, len: u32| -> i32 {
        let len = i64::from(len.max(2));
        let off = (i64::from(p) - i64::from(origin)).clamp(0, len - 1);
        // The centre of the pixel, so rounding inside Windows cannot land on its neighbour.
        ((off * 65536 + 32768) / len).min(65535) as i32
    };
    (norm(px, left, width), norm(py, top, height))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_positions_land_on_the_right_pixel() {
        let monitor = (1920, -200, 1280, 1024);
        assert_eq!(to_pixel(0, 0, monitor), (1920, -200));
        assert_eq!(to_pixel(65535, 65535, monitor), (1920 + 1279, -200 + 1023));
        assert_eq!(to_pixel(32768, 32768, monitor), (1920 + 640, -200 + 512));
    }

    #[test]
    fn virtual_desk_units_map_back_to_the_same_pixel() {
        // Two monitors side by side, the second higher: the virtual desktop spans both.
        let desk = (0, -200, 3200, 1280);
        for (px, py) in [(0, -200), (1919, 879), (1920, -200), (3199, 1079), (2560, 300)] {
            let (nx, ny) = to_virtual_desk((px, py), desk);
            assert!((0..=65535).contains(&nx) && (0..=65535).contains(&ny));
            // What Windows does with them: scale back over the desktop.
            let back_x = desk.0 + (i64::from(nx) * i64::from(desk.2) / 65536) as i32;
            let back_y = desk.1 + (i64::from(ny) * i64::from(desk.3) / 65536) as i32;
            assert_eq!((back_x, back_y), (px, py));
        }
        assert_eq!(
            to_virtual_desk((-50, 99999), desk),
            (10, 65510),
            "clamped to the desktop's first column and last row"
        );
    }
}
