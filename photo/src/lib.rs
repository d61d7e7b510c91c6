//! `tryon-photo`: one photo-preparation pipeline for the browser and the proxy.
//!
//! The widget runs it in a Web Worker (compiled to its own wasm module, feature `wasm`) so a
//! phone uploads a small, upright, metadata-free JPEG instead of a 12 MP original with GPS in
//! it. The proxy runs the same code natively on every upload, because it cannot trust that the
//! browser did: whatever reaches a provider has been decoded within limits and re-encoded here.
//!
//! The pipeline is [`prepare`]: sniff the format from the bytes, read the header dimensions and
//! refuse over-limit images before any pixel is allocated, decode the first frame, flatten
//! alpha onto white, resize so the long edge fits, apply the EXIF orientation, and encode a
//! baseline JPEG that carries no metadata.

mod decode;
mod encode;
mod error;
mod options;
mod pixels;
mod sniff;
#[cfg(test)]
mod testing;
#[cfg(feature = "wasm")]
mod wasm;

pub use decode::decode_upright;
pub use error::PhotoError;
pub use options::{Limits, PrepareOptions};
pub use sniff::{SourceFormat, sniff};

/// What the original file was, before preparation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceInfo {
    pub format: SourceFormat,
    /// Stored width, before the EXIF orientation is applied.
    pub width: u32,
    /// Stored height, before the EXIF orientation is applied.
    pub height: u32,
}

/// A prepared photo: upright, at most `max_edge` on its long side, JPEG without metadata.
#[derive(Clone, PartialEq, Eq)]
pub struct PreparedPhoto {
    pub jpeg: Vec<u8>,
    /// Width of `jpeg`, upright.
    pub width: u32,
    /// Height of `jpeg`, upright.
    pub height: u32,
    pub source: SourceInfo,
}

impl std::fmt::Debug for PreparedPhoto {
    // A shopper's photo never ends up in a log line: show its shape only.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "PreparedPhoto({}x{}, {} bytes, from {:?})",
            self.width,
            self.height,
            self.jpeg.len(),
            self.source
        )
    }
}

/// Turns an uploaded or picked file into the JPEG that travels on.
///
/// Resizing happens before the orientation is applied: the long-edge bound is the same either
/// way, and rotating the small image instead of the original saves a full-size copy.
pub fn prepare(bytes: &[u8], opts: &PrepareOptions) -> Result<PreparedPhoto, PhotoError> {
    let decoded = decode::decode(bytes, &opts.limits)?;
    let source = decoded.source;
    let rgb = pixels::flatten_onto_white(decoded.image);
    let mut image = image::DynamicImage::ImageRgb8(pixels::fit_long_edge(rgb, opts.max_edge));
    image.apply_orientation(decoded.orientation);
    let (width, height) = (image.width(), image.height());
    let jpeg = encode::jpeg(&image.into_rgb8(), opts.jpeg_quality)?;
    Ok(PreparedPhoto {
        jpeg,
        width,
        height,
        source,
    })
}
