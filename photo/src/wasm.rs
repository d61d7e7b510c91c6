//! The Web Worker's entry points.
//!
//! The worker (`www/prepare-worker.js`) asks [`inspect`] whether the picked file's header is
//! acceptable, lets the browser decode it (faster than any wasm decoder, and it applies the
//! EXIF orientation), draws it onto white and passes the pixels to [`prepare_rgba`]. On failure
//! the error message is exactly the contract's error code, so the widget shows the same
//! sentence for a browser-side and a proxy-side refusal.

use wasm_bindgen::prelude::*;

use crate::{EncodedPhoto, Limits, PhotoError};

fn js_error(err: PhotoError) -> JsError {
    JsError::new(err.code())
}

/// The stored size of a picked file, from its header.
#[wasm_bindgen]
pub struct SourceSize {
    pub width: u32,
    pub height: u32,
}

/// Checks a picked file's header against the browser's limits (large phone photos are
/// accepted); throws `unsupported_type` for anything but JPEG, PNG and WebP.
#[wasm_bindgen]
pub fn inspect(bytes: &[u8]) -> Result<SourceSize, JsError> {
    let source = crate::inspect(bytes, &Limits::browser()).map_err(js_error)?;
    Ok(SourceSize {
        width: source.width,
        height: source.height,
    })
}

/// Checks the size of an image the browser decoded from a format this crate cannot read.
#[wasm_bindgen]
pub fn check_dimensions(width: u32, height: u32) -> Result<(), JsError> {
    crate::check_dimensions(width, height, &Limits::browser()).map_err(js_error)
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

/// Resizes upright RGBA pixels the browser decoded and drew onto white, and encodes the JPEG.
#[wasm_bindgen]
pub fn prepare_rgba(
    rgba: &[u8],
    width: u32,
    height: u32,
    max_edge: u32,
    jpeg_quality: u8,
) -> Result<PreparedPhotoJs, JsError> {
    crate::prepare_rgba(rgba, (width, height), max_edge, jpeg_quality)
        .map(PreparedPhotoJs)
        .map_err(js_error)
}
