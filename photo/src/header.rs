//! Judging a file by its header alone: format, stored size, limits, truncation.
//!
//! Both paths start here. The proxy decodes with the `image` crate afterwards; the browser
//! worker hands the file to the browser's own decoder, which has no pixel budget of ours, so
//! a 65535×65535 bomb must be refused from these few bytes before the browser sees it. A
//! hand-written reader of three header layouts keeps the `image` decoders out of the worker's
//! wasm module (they were most of its size).

use crate::{Limits, PhotoError, SourceFormat, SourceInfo, sniff};

/// Longest side accepted whatever the pixel budget, so a 1×25,000,000 strip is refused too.
pub(crate) const MAX_SIDE: u32 = 32_768;

/// Sniffs `bytes`, reads the stored size from the header and checks it against `limits`,
/// without decoding a pixel. A JPEG must also end (the browser's and `image`'s decoders both
/// show a cut-off JPEG as half grey instead of failing).
pub fn inspect(bytes: &[u8], limits: &Limits) -> Result<SourceInfo, PhotoError> {
    if bytes.is_empty() {
        return Err(PhotoError::InvalidImage("the file is empty".into()));
    }
    let format = sniff(bytes).ok_or(PhotoError::UnsupportedType)?;
    let (width, height) = match format {
        SourceFormat::Jpeg => jpeg_size(bytes)?,
        SourceFormat::Png => png_size(bytes)?,
        SourceFormat::WebP => webp_size(bytes)?,
    };
    check_dimensions(width, height, limits)?;
    Ok(SourceInfo {
        format,
        width,
        height,
    })
}

/// Refuses empty images and images over the pixel budget or the side limit.
pub fn check_dimensions(width: u32, height: u32, limits: &Limits) -> Result<(), PhotoError> {
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

fn truncated(what: &str) -> PhotoError {
    PhotoError::InvalidImage(format!("the {what} header is incomplete"))
}

fn be16(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from(u16::from_be_bytes([
        *bytes.get(at)?,
        *bytes.get(at + 1)?,
    ])))
}

fn le_bytes(bytes: &[u8], at: usize, count: usize) -> Option<u32> {
    let slice = bytes.get(at..at + count)?;
    Some(
        slice
            .iter()
            .rev()
            .fold(0, |value, &byte| (value << 8) | u32::from(byte)),
    )
}

/// The size in the frame header (any SOFn) that precedes the first scan, once the file is
/// known to end. Inside scan data a 0xFF byte is always stuffed (0xFF00) or a marker, so the
/// first 0xFFD9 after the scan starts is the end; an EXIF thumbnail's own EOI sits in APP1,
/// before the first scan, and is skipped with the headers.
fn jpeg_size(bytes: &[u8]) -> Result<(u32, u32), PhotoError> {
    let mut frame = None;
    let mut scan = None;
    for (marker, at) in JpegSegments::new(bytes) {
        let is_frame = matches!(marker, 0xC0..=0xCF) && !matches!(marker, 0xC4 | 0xC8 | 0xCC);
        if is_frame && frame.is_none() {
            // Length (2), precision (1), then height and width.
            frame = Some(be16(bytes, at + 7).zip(be16(bytes, at + 5)));
        } else if marker == 0xDA {
            scan = Some(at);
        }
    }
    let scan = scan.ok_or_else(|| truncated("JPEG"))?;
    if !bytes[scan..].windows(2).any(|pair| pair == [0xFF, 0xD9]) {
        return Err(PhotoError::InvalidImage("the JPEG is truncated".into()));
    }
    frame
        .flatten()
        .ok_or_else(|| PhotoError::InvalidImage("the JPEG has no frame header".into()))
}

/// Whether a JPEG is certainly shown as stored: no EXIF block, or one whose orientation is 1 or
/// absent. The worker copies such a photo's decoded pixels without drawing them first; when
/// in doubt (another orientation, an EXIF block this reader cannot follow, not a JPEG) the
/// answer is `false`, and the browser's drawing applies whatever orientation it finds.
pub fn jpeg_is_stored_upright(bytes: &[u8]) -> bool {
    if sniff(bytes) != Some(SourceFormat::Jpeg) {
        return false;
    }
    let exif = JpegSegments::new(bytes)
        .find(|&(marker, at)| marker == 0xE1 && bytes.get(at + 4..at + 10) == Some(b"Exif\0\0"));
    let Some((_, at)) = exif else {
        return true;
    };
    let tiff = be16(bytes, at + 2).and_then(|length| bytes.get(at + 10..at + 2 + length as usize));
    matches!(tiff.map(tiff_orientation), Some(Ok(None | Some(1))))
}

/// The Orientation tag (0x0112) of IFD0 in a TIFF block: `Ok(None)` when IFD0 has no such tag,
/// `Err(())` when the block cannot be followed.
fn tiff_orientation(tiff: &[u8]) -> Result<Option<u16>, ()> {
    let little_endian = match tiff.get(0..2) {
        Some(b"II") => true,
        Some(b"MM") => false,
        _ => return Err(()),
    };
    let u16_at = |at: usize| {
        let pair = [*tiff.get(at).ok_or(())?, *tiff.get(at + 1).ok_or(())?];
        Ok::<u16, ()>(if little_endian {
            u16::from_le_bytes(pair)
        } else {
            u16::from_be_bytes(pair)
        })
    };
    let (low, high) = (u16_at(4)?, u16_at(6)?);
    let ifd = if little_endian {
        usize::from(low) | usize::from(high) << 16
    } else {
        usize::from(low) << 16 | usize::from(high)
    };
    for entry in 0..usize::from(u16_at(ifd)?) {
        let at = ifd + 2 + 12 * entry;
        if u16_at(at)? == 0x0112 {
            // A SHORT with count 1 sits left-aligned in the entry's 4-byte value field.
            return u16_at(at + 8).map(Some);
        }
    }
    Ok(None)
}

/// A JPEG's header segments up to and including the first scan, as (marker, offset of the
/// segment's 0xFF byte). Ends early where the segments stop making sense or the file ends.
struct JpegSegments<'a> {
    bytes: &'a [u8],
    at: usize,
    done: bool,
}

impl<'a> JpegSegments<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self {
            bytes,
            at: 2,
            done: false,
        }
    }
}

impl Iterator for JpegSegments<'_> {
    type Item = (u8, usize);

    fn next(&mut self) -> Option<(u8, usize)> {
        while !self.done {
            let at = self.at;
            let (Some(0xFF), Some(&marker)) = (self.bytes.get(at), self.bytes.get(at + 1)) else {
                self.done = true;
                return None;
            };
            match marker {
                // Fill bytes before a marker.
                0xFF => self.at += 1,
                0xDA => {
                    self.done = true;
                    return Some((marker, at));
                }
                _ => {
                    match be16(self.bytes, at + 2) {
                        Some(length) => self.at = at + 2 + length as usize,
                        None => self.done = true,
                    }
                    return Some((marker, at));
                }
            }
        }
        None
    }
}

/// IHDR is the first chunk: signature (8), length (4), "IHDR" (4), width (4), height (4).
fn png_size(bytes: &[u8]) -> Result<(u32, u32), PhotoError> {
    if bytes.get(12..16) != Some(b"IHDR") {
        return Err(truncated("PNG"));
    }
    let word = |at: usize| {
        bytes
            .get(at..at + 4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    };
    word(16).zip(word(20)).ok_or_else(|| truncated("PNG"))
}

/// The first chunk after "RIFF size WEBP" says which of the three layouts follows.
fn webp_size(bytes: &[u8]) -> Result<(u32, u32), PhotoError> {
    let size = match bytes.get(12..16) {
        // Lossy: frame tag (3), start code 9D 01 2A, then 14-bit width and height.
        Some(b"VP8 ") if bytes.get(23..26) == Some(&[0x9D, 0x01, 0x2A]) => le_bytes(bytes, 26, 2)
            .zip(le_bytes(bytes, 28, 2))
            .map(|(w, h)| (w & 0x3FFF, h & 0x3FFF)),
        // Lossless: signature 0x2F, then width − 1 and height − 1 in 14 bits each.
        Some(b"VP8L") if bytes.get(20) == Some(&0x2F) => {
            le_bytes(bytes, 21, 4).map(|bits| ((bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1))
        }
        // Extended: flags (4), then canvas width − 1 and height − 1 in 24 bits each.
        Some(b"VP8X") => le_bytes(bytes, 24, 3)
            .zip(le_bytes(bytes, 27, 3))
            .map(|(w, h)| (w + 1, h + 1)),
        _ => None,
    };
    size.ok_or_else(|| truncated("WebP"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;

    fn size_by_image_crate(bytes: &[u8]) -> (u32, u32) {
        image::ImageReader::new(std::io::Cursor::new(bytes))
            .with_guessed_format()
            .unwrap()
            .into_dimensions()
            .unwrap()
    }

    #[test]
    fn sizes_match_the_image_crate_for_each_format() {
        let picture = photo_like(123, 45);
        let mut webp = Vec::new();
        image::DynamicImage::ImageRgb8(picture.clone())
            .write_to(
                &mut std::io::Cursor::new(&mut webp),
                image::ImageFormat::WebP,
            )
            .unwrap();
        let exif = with_exif_orientation(&jpeg(&picture), 6);
        for (name, bytes) in [
            ("JPEG", jpeg(&picture)),
            ("JPEG with EXIF", exif),
            ("PNG", png_rgb(&picture)),
            ("WebP lossless", webp),
        ] {
            let info = inspect(&bytes, &Limits::server()).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!((info.width, info.height), (123, 45), "{name}");
            assert_eq!(
                (info.width, info.height),
                size_by_image_crate(&bytes),
                "{name}"
            );
        }
    }

    #[test]
    fn lossy_and_extended_webp_headers_are_read() {
        // A VP8 key frame header for 300×200 (the scan data is not looked at).
        let mut lossy = b"RIFF\0\0\0\0WEBPVP8 \0\0\0\0".to_vec();
        lossy.extend_from_slice(&[0x50, 0x2A, 0x00, 0x9D, 0x01, 0x2A]);
        lossy.extend_from_slice(&300u16.to_le_bytes());
        lossy.extend_from_slice(&200u16.to_le_bytes());
        let info = inspect(&lossy, &Limits::server()).unwrap();
        assert_eq!((info.width, info.height), (300, 200));

        let mut extended = b"RIFF\0\0\0\0WEBPVP8X\x0A\0\0\0\x10\0\0\0".to_vec();
        extended.extend_from_slice(&[0x0F, 0x27, 0x00]); // 9999 + 1
        extended.extend_from_slice(&[0xB7, 0x1B, 0x00]); // 7095 + 1
        let too_large = inspect(&extended, &Limits::server());
        assert_eq!(
            too_large,
            Err(PhotoError::TooLarge {
                width: 10_000,
                height: 7_096
            })
        );
    }

    #[test]
    fn the_first_frame_header_counts_not_a_thumbnail_marker_inside_app1() {
        let file = with_exif_orientation(&jpeg(&photo_like(64, 48)), 1);
        let info = inspect(&file, &Limits::server()).unwrap();
        assert_eq!((info.width, info.height), (64, 48));
    }

    #[test]
    fn only_jpegs_without_a_turning_exif_orientation_are_stored_upright() {
        let plain = jpeg(&photo_like(40, 30));
        assert!(jpeg_is_stored_upright(&plain), "no EXIF at all");
        assert!(jpeg_is_stored_upright(&with_exif_orientation(&plain, 1)));
        for orientation in 2..=8 {
            let turned = with_exif_orientation(&plain, orientation);
            assert!(
                !jpeg_is_stored_upright(&turned),
                "orientation {orientation}"
            );
        }
        let mut unreadable = with_exif_orientation(&plain, 1);
        unreadable[12] = b'X'; // the TIFF byte order mark
        assert!(
            !jpeg_is_stored_upright(&unreadable),
            "an EXIF block that cannot be read"
        );
        assert!(
            !jpeg_is_stored_upright(&png_rgb(&photo_like(4, 4))),
            "not a JPEG"
        );
    }

    #[test]
    fn cut_off_headers_are_invalid_not_panics() {
        let jpeg = jpeg(&photo_like(40, 30));
        let png = png_rgb(&photo_like(40, 30));
        // A JPEG is refused wherever it is cut (it has no end); a PNG while IHDR is incomplete.
        let cases = [(&jpeg, 3..jpeg.len() - 1), (&png, 8..24)];
        for (file, ends) in cases {
            for end in ends {
                let result = inspect(&file[..end], &Limits::server());
                assert!(
                    matches!(result, Err(PhotoError::InvalidImage(_))),
                    "{end} bytes of {:x?}: {result:?}",
                    &file[..4]
                );
            }
        }
    }
}
