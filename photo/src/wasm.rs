//! The Web Worker's entry point.
//!
//! The worker script passes the picked file's bytes and the limit from `GET /v1/config`, and
//! gets back the JPEG and its size. On failure the error message is exactly the contract's
//! error code, so the widget shows the same sentence for a browser-side and a proxy-side refusal.

use wasm_bindgen::prelude::*;

use crate::{Limits, PrepareOptions, PreparedPhoto};

/// A prepared photo as JavaScript sees it.
#[wasm_bindgen]
pub struct PreparedPhotoJs(PreparedPhoto);

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

    /// Width of the picked file as stored, before orientation.
    #[wasm_bindgen(getter)]
    pub fn source_width(&self) -> u32 {
        self.0.source.width
    }

    /// Height of the picked file as stored, before orientation.
    #[wasm_bindgen(getter)]
    pub fn source_height(&self) -> u32 {
        self.0.source.height
    }
}

/// Prepares a picked photo with the browser's limits (large phone photos are accepted).
#[wasm_bindgen]
pub fn prepare_photo(
    bytes: &[u8],
    max_edge: u32,
    jpeg_quality: u8,
) -> Result<PreparedPhotoJs, JsError> {
    let opts = PrepareOptions {
        max_edge,
        jpeg_quality,
        limits: Limits::browser(),
    };
    crate::prepare(bytes, &opts)
        .map(PreparedPhotoJs)
        .map_err(|err| JsError::new(err.code()))
}
