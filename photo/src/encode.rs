//! The output encoder: a baseline JPEG with no metadata segments.

use image::RgbImage;
use image::codecs::jpeg::JpegEncoder;

use crate::PhotoError;

/// Encodes `rgb` as JPEG. The encoder writes only JFIF, tables and scan data: no EXIF, no XMP,
/// no ICC profile, nothing after EOI.
pub(crate) fn jpeg(rgb: &RgbImage, quality: u8) -> Result<Vec<u8>, PhotoError> {
    let mut out = Vec::with_capacity(rgb.as_raw().len() / 8);
    JpegEncoder::new_with_quality(&mut out, quality.clamp(1, 100))
        .encode_image(rgb)
        .map_err(|err| PhotoError::InvalidImage(format!("JPEG encoding failed: {err}")))?;
    Ok(out)
}
