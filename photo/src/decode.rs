//! Decoding within limits: the header is read and judged before any pixel buffer exists.
//!
//! A 40 KB PNG can announce 65535×65535 pixels (16 GiB of RGBA); the only safe moment to refuse
//! it is after the header and before the allocation, which is what [`decode`] is built around.

use std::io::Cursor;

use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageError, ImageReader};

use crate::{Limits, PhotoError, SourceFormat, SourceInfo, sniff};

/// Longest side accepted whatever the pixel budget, so a 1×25,000,000 strip is refused too.
const MAX_SIDE: u32 = 32_768;

/// A decoded first frame, still as stored (not yet oriented).
pub(crate) struct Decoded {
    pub image: DynamicImage,
    pub orientation: Orientation,
    pub source: SourceInfo,
}

/// Decodes `bytes` and applies their EXIF orientation, at full size.
///
/// For callers that need pixels rather than a JPEG, such as the local compositor; the limits
/// are checked exactly as in [`crate::prepare`].
pub fn decode_upright(bytes: &[u8], limits: &Limits) -> Result<DynamicImage, PhotoError> {
    let decoded = decode(bytes, limits)?;
    let mut image = decoded.image;
    image.apply_orientation(decoded.orientation);
    Ok(image)
}

pub(crate) fn decode(bytes: &[u8], limits: &Limits) -> Result<Decoded, PhotoError> {
    if bytes.is_empty() {
        return Err(PhotoError::InvalidImage("the file is empty".into()));
    }
    let format = sniff(bytes).ok_or(PhotoError::UnsupportedType)?;
    if format == SourceFormat::Jpeg && !jpeg_has_end(bytes) {
        return Err(PhotoError::InvalidImage("the JPEG is truncated".into()));
    }
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format.image_format());
    // Only the allocation cap while the header is read: the dimension limits are checked by
    // hand below so the refusal can say how large the image claimed to be.
    reader.limits(allocation_limits(limits));
    let mut decoder = reader.into_decoder().map_err(invalid)?;
    let (width, height) = decoder.dimensions();
    check_dimensions(width, height, limits)?;

    let too_large = |_| PhotoError::TooLarge { width, height };
    let mut image_limits = decoder_limits(limits);
    image_limits
        .reserve(decoder.total_bytes())
        .map_err(too_large)?;
    decoder.set_limits(image_limits).map_err(too_large)?;

    // A malformed EXIF block is common in edited photos and must not cost the shopper the photo.
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let image = DynamicImage::from_decoder(decoder).map_err(|err| match err {
        ImageError::Limits(_) => PhotoError::TooLarge { width, height },
        other => invalid(other),
    })?;
    Ok(Decoded {
        image,
        orientation,
        source: SourceInfo {
            format,
            width,
            height,
        },
    })
}

/// Whether an end-of-image marker follows the first scan.
///
/// The JPEG decoder is lenient and fills a cut-off file with grey; a half-uploaded photo must
/// be refused instead. Inside scan data a 0xFF byte is always stuffed (0xFF00) or a marker, so
/// the first 0xFFD9 after the headers is the end; an EXIF thumbnail's own EOI sits in APP1,
/// before the first scan, and is skipped with the headers.
fn jpeg_has_end(bytes: &[u8]) -> bool {
    const EOI: [u8; 2] = [0xFF, 0xD9];
    first_scan_offset(bytes).is_some_and(|scan| bytes[scan..].windows(2).any(|pair| pair == EOI))
}

/// Offset of the first start-of-scan marker, walking the header segments by their lengths.
fn first_scan_offset(bytes: &[u8]) -> Option<usize> {
    let mut at = 2;
    loop {
        let marker = *bytes.get(at + 1)?;
        if bytes[at] != 0xFF {
            return None;
        }
        match marker {
            0xDA => return Some(at),
            // Fill bytes before a marker.
            0xFF => at += 1,
            _ => {
                let length = u16::from_be_bytes([*bytes.get(at + 2)?, *bytes.get(at + 3)?]);
                at += 2 + usize::from(length);
            }
        }
    }
}

fn check_dimensions(width: u32, height: u32, limits: &Limits) -> Result<(), PhotoError> {
    if width == 0 || height == 0 {
        return Err(PhotoError::InvalidImage(format!(
            "the image is {width}×{height} pixels"
        )));
    }
    let pixels = u64::from(width) * u64::from(height);
    if pixels > limits.max_pixels || width > MAX_SIDE || height > MAX_SIDE {
        return Err(PhotoError::TooLarge { width, height });
    }
    Ok(())
}

fn allocation_limits(limits: &Limits) -> image::Limits {
    let mut image_limits = image::Limits::no_limits();
    image_limits.max_alloc = Some(limits.max_alloc);
    image_limits
}

fn decoder_limits(limits: &Limits) -> image::Limits {
    let mut image_limits = allocation_limits(limits);
    image_limits.max_image_width = Some(MAX_SIDE);
    image_limits.max_image_height = Some(MAX_SIDE);
    image_limits
}

fn invalid(err: ImageError) -> PhotoError {
    PhotoError::InvalidImage(err.to_string())
}
