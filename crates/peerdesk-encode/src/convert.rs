//! BGRA to I420 (BT.709, limited range, matching the VUI the encoder writes).

use peerdesk_capture::Frame;
use yuv::{YuvChromaSubsampling, YuvConversionMode, YuvPlanarImageMut, YuvRange, YuvStandardMatrix};

use crate::EncodeError;

/// An I420 picture: full-size luma, half-size chroma planes, tightly packed.
#[derive(Debug)]
pub struct I420 {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    image: YuvPlanarImageMut<'static, u8>,
}

impl I420 {
    /// A black picture of this size.
    pub fn new(width: u32, height: u32) -> Self {
        Self { width, height, image: YuvPlanarImageMut::alloc(width, height, YuvChromaSubsampling::Yuv420) }
    }

    /// Converts `frame` into this picture; the sizes must match.
    pub fn convert_from(&mut self, frame: &Frame) -> Result<(), EncodeError> {
        if frame.width != self.width || frame.height != self.height {
            return Err(EncodeError::Convert(format!(
                "frame is {}x{}, picture is {}x{}",
                frame.width, frame.height, self.width, self.height
            )));
        }
        let stride =
            u32::try_from(frame.stride).map_err(|_| EncodeError::Convert("stride too large".into()))?;
        yuv::bgra_to_yuv420(
            &mut self.image,
            &frame.data,
            stride,
            YuvRange::Limited,
            YuvStandardMatrix::Bt709,
            YuvConversionMode::Balanced,
        )
        .map_err(|e| EncodeError::Convert(e.to_string()))
    }

    /// The luma plane and its stride.
    pub fn y(&self) -> (&[u8], usize) {
        (self.image.y_plane.borrow(), self.image.y_stride as usize)
    }

    /// The Cb plane and its stride.
    pub fn u(&self) -> (&[u8], usize) {
        (self.image.u_plane.borrow(), self.image.u_stride as usize)
    }

    /// The Cr plane and its stride.
    pub fn v(&self) -> (&[u8], usize) {
        (self.image.v_plane.borrow(), self.image.v_stride as usize)
    }
}
