//! The Web Worker's entry points.
//!
//! The worker (`www/prepare-worker.js`) asks [`inspect`] whether the picked file's header is
//! acceptable, lets the browser decode it (faster than any wasm decoder, and it applies the
//! EXIF orientation), has the browser copy the pixels straight into a [`PixelBuffer`] in this
//! module's memory, and calls [`prepare_pixels`]. For a large JPEG, [`jpeg_decode_size`] says
//! what reduced size to have the browser decode it at. On failure the error message is
//! exactly the contract's error code, so the widget shows the same sentence for a browser-side
//! and a proxy-side refusal.

use wasm_bindgen::prelude::*;

use crate::{BrowserPixels, ChannelOrder, EncodedPhoto, Limits, PhotoError};

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
    /// A JPEG, which the browser's `ImageDecoder` can decode at a reduced scale.
    pub jpeg: bool,
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
        jpeg: source.format == crate::SourceFormat::Jpeg,
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

    #[wasm_bindgen(getter)]
    pub fn width(&self) -> u32 {
        self.width
    }

    #[wasm_bindgen(getter)]
    pub fn height(&self) -> u32 {
        self.height
    }
}

/// The size to ask the browser's JPEG decoder for (`ImageDecoder`'s `desiredWidth` and
/// `desiredHeight`), or none when the photo should be decoded at full size.
#[wasm_bindgen]
pub struct DecodeSize {
    pub width: u32,
    pub height: u32,
}

/// See [`crate::jpeg_decode_size`]: `width` × `height` is the JPEG's stored size.
#[wasm_bindgen]
pub fn jpeg_decode_size(width: u32, height: u32, max_edge: u32) -> Option<DecodeSize> {
    crate::jpeg_decode_size((width, height), max_edge)
        .map(|(width, height)| DecodeSize { width, height })
}

/// A prepared photo as JavaScript sees it, with how long its two steps took.
#[wasm_bindgen]
pub struct PreparedPhotoJs {
    photo: EncodedPhoto,
    resize_ms: f64,
    quality_ms: f64,
    encode_ms: f64,
}

#[wasm_bindgen]
impl PreparedPhotoJs {
    /// The JPEG bytes (a copy into a `Uint8Array`).
    #[wasm_bindgen(getter)]
    pub fn jpeg(&self) -> Vec<u8> {
        self.photo.jpeg.clone()
    }

    #[wasm_bindgen(getter)]
    pub fn width(&self) -> u32 {
        self.photo.width
    }

    #[wasm_bindgen(getter)]
    pub fn height(&self) -> u32 {
        self.photo.height
    }

    /// Milliseconds spent resizing and turning upright (`Date.now` resolution).
    #[wasm_bindgen(getter)]
    pub fn resize_ms(&self) -> f64 {
        self.resize_ms
    }

    /// The JPEG quality chosen for this photo.
    #[wasm_bindgen(getter)]
    pub fn quality(&self) -> u8 {
        self.photo.quality
    }

    /// Milliseconds spent choosing the quality.
    #[wasm_bindgen(getter)]
    pub fn quality_ms(&self) -> f64 {
        self.quality_ms
    }

    /// Milliseconds spent encoding.
    #[wasm_bindgen(getter)]
    pub fn encode_ms(&self) -> f64 {
        self.encode_ms
    }
}

/// Resizes `pixels` (consumed; `bgra` says their byte order) to the size a `source_width` ×
/// `source_height` photo fits within `max_edge`, turns them upright by the frame's `rotation`
/// (degrees clockwise) and `flip` (0 and false for pixels that are already upright), and
/// encodes them at the lowest quality up to `jpeg_quality` that keeps the photo's look. The source size is the full-resolution size in the pixels' own orientation,
/// which differs from theirs when the browser decoded at a reduced scale.
#[wasm_bindgen]
#[allow(clippy::too_many_arguments)] // one flat call from JavaScript, each argument named there
pub fn prepare_pixels(
    pixels: PixelBuffer,
    bgra: bool,
    source_width: u32,
    source_height: u32,
    rotation: u32,
    flip: bool,
    max_edge: u32,
    jpeg_quality: u8,
) -> Result<PreparedPhotoJs, JsError> {
    let orientation = crate::orientation_of_frame(rotation, flip).ok_or_else(|| {
        js_error(PhotoError::InvalidImage(format!(
            "a frame rotated by {rotation}°"
        )))
    })?;
    let order = if bgra {
        ChannelOrder::Bgra
    } else {
        ChannelOrder::Rgba
    };
    let browser_pixels = BrowserPixels {
        bytes: &pixels.bytes,
        size: (pixels.width, pixels.height),
        order,
        orientation,
    };
    let started = js_sys::Date::now();
    let fitted = crate::fit_browser_pixels(browser_pixels, (source_width, source_height), max_edge)
        .map_err(js_error)?;
    let resized = js_sys::Date::now();
    let quality = fitted.choose_quality(jpeg_quality);
    let chosen = js_sys::Date::now();
    let photo = fitted.encode_at(quality).map_err(js_error)?;
    Ok(PreparedPhotoJs {
        photo,
        resize_ms: resized - started,
        quality_ms: chosen - resized,
        encode_ms: js_sys::Date::now() - chosen,
    })
}
