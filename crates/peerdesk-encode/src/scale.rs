//! Scaling a frame to the stream's size (`--width/--height`), keeping its aspect.

use fast_image_resize::images::Image;
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use peerdesk_capture::Frame;

use crate::EncodeError;

/// The largest even size that fits `src` into `bound` keeping its aspect (a missing side is
/// unbounded); never larger than `src`.
pub fn fit((w, h): (u32, u32), (max_w, max_h): (Option<u32>, Option<u32>)) -> (u32, u32) {
    if w == 0 || h == 0 {
        return (w, h);
    }
    let sx = max_w.map_or(1.0, |m| f64::from(m) / f64::from(w));
    let sy = max_h.map_or(1.0, |m| f64::from(m) / f64::from(h));
    scaled((w, h), sx.min(sy))
}

/// `size` times `scale` (at most 1: never larger), each side rounded to an even number, at
/// least 2 (4:2:0 video needs even sides).
pub fn scaled((w, h): (u32, u32), scale: f64) -> (u32, u32) {
    if w == 0 || h == 0 {
        return (w, h);
    }
    let s = scale.min(1.0);
    let even = |v: u32| (((f64::from(v) * s).round() as u32) & !1).max(2);
    (even(w), even(h))
}

/// Resizes frames with a bilinear filter (SIMD where the CPU has it).
pub struct Scaler {
    resizer: Resizer,
    options: ResizeOptions,
}

impl std::fmt::Debug for Scaler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scaler").finish_non_exhaustive()
    }
}

impl Default for Scaler {
    fn default() -> Self {
        Self {
            resizer: Resizer::new(),
            options: ResizeOptions::new()
                .resize_alg(ResizeAlg::Convolution(FilterType::Bilinear))
                .use_alpha(false),
        }
    }
}

impl Scaler {
    /// `frame` at the size the stream takes: its own fitted into `max_size`, times `scale`.
    /// The frame itself when that is its size, else a scaled copy.
    pub fn to_stream_size<'a>(
        &mut self,
        frame: &'a Frame,
        max_size: (Option<u32>, Option<u32>),
        scale: f64,
    ) -> Result<std::borrow::Cow<'a, Frame>, EncodeError> {
        let (w, h) = scaled(fit((frame.width, frame.height), max_size), scale);
        if (w, h) == (frame.width, frame.height) {
            Ok(std::borrow::Cow::Borrowed(frame))
        } else {
            self.scale(frame, w, h).map(std::borrow::Cow::Owned)
        }
    }

    /// `frame` scaled to `width` x `height`.
    pub fn scale(&mut self, frame: &Frame, width: u32, height: u32) -> Result<Frame, EncodeError> {
        let tight = frame.width as usize * 4;
        let rows = frame.height as usize;
        let mut src_bytes = Vec::with_capacity(tight * rows);
        if frame.stride == tight {
            src_bytes.extend_from_slice(frame.data.get(..tight * rows).ok_or_else(|| short(frame))?);
        } else {
            for y in 0..rows {
                let row =
                    frame.data.get(y * frame.stride..y * frame.stride + tight).ok_or_else(|| short(frame))?;
                src_bytes.extend_from_slice(row);
            }
        }
        let src = Image::from_vec_u8(frame.width, frame.height, src_bytes, PixelType::U8x4)
            .map_err(|e| EncodeError::Convert(e.to_string()))?;
        let mut dst = Image::new(width, height, PixelType::U8x4);
        self.resizer
            .resize(&src, &mut dst, &self.options)
            .map_err(|e| EncodeError::Convert(e.to_string()))?;
        Ok(Frame {
            width,
            height,
            stride: width as usize * 4,
            data: dst.into_vec(),
            captured_at: frame.captured_at,
            capture_time: frame.capture_time,
        })
    }
}

fn short(frame: &Frame) -> EncodeError {
    EncodeError::Convert(format!("frame data too short for {}x{}", frame.width, frame.height))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaling_keeps_colours_even_with_a_zero_padding_byte() {
        // X11 frames carry 0 in the fourth byte: it is padding, not alpha.
        let (w, h) = (64u32, 32u32);
        let mut data = Vec::new();
        for _y in 0..h {
            for x in 0..w {
                data.extend_from_slice(if x < w / 2 { &[200, 10, 20, 0] } else { &[10, 220, 30, 0] });
            }
        }
        let now = std::time::Instant::now();
        let frame = Frame {
            width: w,
            height: h,
            stride: w as usize * 4,
            data,
            captured_at: now,
            capture_time: Default::default(),
        };
        let out = Scaler::default().scale(&frame, 32, 16).expect("scales");
        assert_eq!((out.width, out.height), (32, 16));
        assert_eq!(&out.pixel(4, 8).expect("inside")[..3], &[200, 10, 20]);
        assert_eq!(&out.pixel(28, 8).expect("inside")[..3], &[10, 220, 30]);
    }

    #[test]
    fn fits_keeping_aspect_and_even() {
        assert_eq!(fit((1920, 1080), (Some(1280), Some(720))), (1280, 720));
        assert_eq!(fit((1920, 1080), (Some(1280), None)), (1280, 720));
        assert_eq!(fit((1920, 1080), (None, Some(540))), (960, 540));
        assert_eq!(fit((1920, 1200), (Some(1280), Some(720))), (1152, 720));
        assert_eq!(fit((1024, 768), (Some(1920), Some(1080))), (1024, 768), "never upscaled");
        assert_eq!(fit((1366, 768), (Some(1000), None)), (1000, 562));
        assert_eq!(fit((800, 600), (None, None)), (800, 600));
    }
}
