//! Decoding within limits: the header is read and judged before any pixel buffer exists.
//!
//! A 40 KB PNG can announce 65535×65535 pixels (16 GiB of RGBA); the only safe moment to refuse
//! it is after the header and before the allocation, which is what [`decode`] is built around.

use std::io::Cursor;

use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageError, ImageReader};

use crate::header::{MAX_SIDE, check_dimensions, inspect};
use crate::{Limits, PhotoError, SourceInfo};

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
    let source = inspect(bytes, limits)?;
    let mut reader = ImageReader::with_format(Cursor::new(bytes), source.format.image_format());
    // Only the allocation cap while the header is read again: the dimension limits were
    // checked by `inspect`, so the refusal can say how large the image claimed to be.
    reader.limits(allocation_limits(limits));
    let mut decoder = reader.into_decoder().map_err(invalid)?;
    let (width, height) = decoder.dimensions();
    // The decoder's own reading of the header has the last word on what it will allocate.
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
            width,
            height,
            ..source
        },
    })
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
