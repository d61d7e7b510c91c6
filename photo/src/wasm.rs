//! The Web Worker's entry points.
//!
//! The worker (`www/prepare-worker.js`) asks [`inspect`] whether the picked file's header is
//! acceptable, lets the browser decode it (faster than any wasm decoder, and it applies the
//! EXIF orientation), has the browser copy the upright pixels straight into a [`PixelBuffer`]
//! in this module's memory, and calls [`prepare_pixels`]. On failure the error message is
//! exactly the contract's error code, so the widget shows the same sentence for a browser-side
//! and a proxy-side refusal.

use wasm_bindgen::prelude::*;

use crate::{ChannelOrder, EncodedPhoto, Limits, PhotoError};

fn js_error(err: PhotoError) -> JsError {
    JsError::new(err.code())
}

/// What the header of a picked file says.
#[wasm_bindgen]
pub struct SourceHeader {
    /// Stored width, before the EXIF orientation.
    pub width: u32,
    /// Stored height, before the EXIF orientation.
    pub height: u32,
    /// A JPEG shown exactly as stored: no transparency to flatten and no EXIF orientation to
    /// apply, so the decoded pixels can be copied without drawing them first. (A `VideoFrame`
    /// made from an `ImageBitmap` ignores the orientation the bitmap was decoded with.)
    pub as_stored: bool,
}

/// Checks a picked file's header against the browser's limits (large phone photos are
/// accepted); throws `unsupported_type` for anything but JPEG, PNG and WebP.
#[wasm_bindgen]
pub fn inspect(bytes: &[u8]) -> Result<SourceHeader, JsError> {
    let source = crate::inspect(bytes, &Limits::browser()).map_err(js_error)?;
    Ok(SourceHeader {
        width: source.width,
        height: source.height,
        as_stored: crate::jpeg_is_stored_upright(bytes),
    })
}

/// Four-byte pixels in this module's memory, so the browser can copy a decoded frame straight
/// in (`VideoFrame.copyTo` at [`PixelBuffer::offset`]) instead of through a 48 MB JS array.
#[wasm_bindgen]
pub struct PixelBuffer {
    bytes: Vec<u8>,
    width: u32,
    height: u32,
}

#[wasm_bindgen]
impl PixelBuffer {
    /// Room for `width` × `height` pixels; throws `image_too_large` beyond the browser's limits
    /// (the check an image from a format the header reader does not know gets).
    #[wasm_bindgen(constructor)]
    pub fn new(width: u32, height: u32) -> Result<PixelBuffer, JsError> {
        crate::check_dimensions(width, height, &Limits::browser()).map_err(js_error)?;
        let len = usize::try_from(u64::from(width) * u64::from(height) * 4)
            .map_err(|_| js_error(PhotoError::TooLarge { width, height }))?;
        Ok(PixelBuffer {
            bytes: vec![0; len],
            width,
            height,
        })
    }

    /// Where the pixels start in the module's `memory`.
    #[wasm_bindgen(getter)]
    pub fn offset(&self) -> usize {
        self.bytes.as_ptr() as usize
    }

    #[wasm_bindgen(getter)]
    pub fn length(&self) -> usize {
        self.bytes.len()
    }
}

/// A prepared photo as JavaScript sees it.
#[wasm_bindgen]
pub struct PreparedPhotoJs(EncodedPhoto);

#[wasm_bindgen]
impl PreparedPhotoJs {
    /// The JPEG bytes (a copy into a `Uint8Array`).
    #[wasm_bindgen(getter)]
    pub fn jpeg(&self) -> Vec<u8> {
        self.0.jpeg.clone()
    }

    #[wasm_bindgen(getter)]
    pub fn width(&self) -> u32 {
        self.0.width
    }

    #[wasm_bindgen(getter)]
    pub fn height(&self) -> u32 {
        self.0.height
    }
}

/// Resizes and encodes the upright pixels in `pixels` (consumed): `bgra` says their byte order.
#[wasm_bindgen]
pub fn prepare_pixels(
    pixels: PixelBuffer,
    bgra: bool,
    max_edge: u32,
    jpeg_quality: u8,
) -> Result<PreparedPhotoJs, JsError> {
    let order = if bgra {
        ChannelOrder::Bgra
    } else {
        ChannelOrder::Rgba
    };
    let size = (pixels.width, pixels.height);
    crate::prepare_pixels(&pixels.bytes, size, order, max_edge, jpeg_quality)
        .map(PreparedPhotoJs)
        .map_err(js_error)
}
