//! The worker's half of preparation: pixels the browser decoded, resized and encoded here.
//!
//! The browser's decoder is native and SIMD, far faster than any decoder compiled to wasm, so
//! the worker lets it decode and hands the pixels over. Two kinds arrive. From
//! `createImageBitmap` they are upright and full size. From WebCodecs' `ImageDecoder` a large
//! JPEG arrives decoded at a reduced scale (libjpeg's n/8 scales, which skip most of the
//! inverse DCT work and the memory traffic of the full-size pixels) and still as stored, with
//! its EXIF orientation left to us: [`jpeg_decode_size`] picks that scale, and
//! [`fit_browser_pixels`] resizes from whatever arrived to the size the full-resolution photo
//! fits, then turns it upright. [`FittedPixels::encode`] writes the JPEG.

use std::borrow::Cow;

use image::RgbaImage;
use image::metadata::Orientation;

use crate::pixels::{fitted_size, lanczos3_4};
use crate::{PhotoError, encode, quality};

/// The byte order of the four-byte pixels the browser hands over. A `VideoFrame` copies out
/// in the platform's own order (BGRX on most), and asking it to convert costs a pass over
/// every pixel; the resize does not care and the encoder reads either order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelOrder {
    Rgba,
    Bgra,
}

/// Four-byte pixels the browser decoded (the fourth byte is ignored: the browser already drew
/// anything transparent onto white, and JPEG has no alpha).
#[derive(Debug, Clone, Copy)]
pub struct BrowserPixels<'a> {
    pub bytes: &'a [u8],
    /// Width and height of `bytes`, as they lie in memory (before `orientation`).
    pub size: (u32, u32),
    pub order: ChannelOrder,
    /// What turns them upright: `NoTransforms` for `createImageBitmap`'s output, the photo's
    /// EXIF orientation for `ImageDecoder`'s.
    pub orientation: Orientation,
}

/// The photo at its output size and upright, ready for [`FittedPixels::encode`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FittedPixels<'a> {
    bytes: Cow<'a, [u8]>,
    size: (u32, u32),
    order: ChannelOrder,
}

/// A JPEG made from pixels the browser decoded.
#[derive(Clone, PartialEq, Eq)]
pub struct EncodedPhoto {
    pub jpeg: Vec<u8>,
    pub width: u32,
    pub height: u32,
    /// The JPEG quality the search chose for this photo.
    pub quality: u8,
}

impl std::fmt::Debug for EncodedPhoto {
    // Like `PreparedPhoto`: shape only.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (width, height, bytes) = (self.width, self.height, self.jpeg.len());
        let quality = self.quality;
        write!(
            f,
            "EncodedPhoto({width}x{height}, {bytes} bytes, quality {quality})"
        )
    }
}

/// The EXIF orientation a WebCodecs `VideoFrame` describes with `rotation` (degrees clockwise)
/// and `flip` (a horizontal flip after the rotation); `None` for a rotation that is not a
/// multiple of 90°.
pub fn orientation_of_frame(rotation: u32, flip: bool) -> Option<Orientation> {
    let exif = match (rotation, flip) {
        (0, false) => 1,
        (0, true) => 2,
        (180, false) => 3,
        (180, true) => 4,
        (90, true) => 5,
        (90, false) => 6,
        (270, true) => 7,
        (270, false) => 8,
        _ => return None,
    };
    Orientation::from_exif(exif)
}

/// The smallest reduced size, among a JPEG decoder's n/8 scales (n < 8; sides rounded up, as
/// libjpeg does), at which a `stored`-size JPEG still has at least [`DECODE_OVERSAMPLING`]
/// times the pixels per side of its output; `None` when only the full size has, so the
/// browser should decode as usual.
pub fn jpeg_decode_size(stored: (u32, u32), max_edge: u32) -> Option<(u32, u32)> {
    let output = fitted_size(stored.0, stored.1, max_edge.max(1));
    let scaled = |side: u32, eighths: u32| (u64::from(side) * u64::from(eighths)).div_ceil(8);
    (1..8)
        .map(|eighths| (scaled(stored.0, eighths), scaled(stored.1, eighths)))
        .find(|&(width, height)| {
            width as f64 >= f64::from(output.0) * DECODE_OVERSAMPLING
                && height as f64 >= f64::from(output.1) * DECODE_OVERSAMPLING
        })
        .map(|(width, height)| (width as u32, height as u32))
}

/// How many times the output's size a reduced decode must keep, so that Lanczos3 does the final,
/// visible part of the reduction rather than the decoder's DCT-domain scaling alone. Measured
/// with `cargo xtask bench` (luma SSIM against `image`'s Lanczos3 from the full-size decode):
/// 12 MP to 2048 scored 0.9717 decoded in full, 0.9708 at 6/8 and 0.9702 at 5/8 (the browser's
/// own path 0.9642), while 5/8 saved about 40 ms of decode and resize; 48 MP at 3/8 scored
/// 0.9878 (the browser's path 0.9859).
const DECODE_OVERSAMPLING: f64 = 1.2;

/// Resizes `pixels` with Lanczos3 to the size a `source`-size photo (the full-resolution size,
/// as stored like `pixels`) fits within `max_edge` on its long side, never larger than the
/// pixels themselves, then turns the result upright.
pub fn fit_browser_pixels<'a>(
    pixels: BrowserPixels<'a>,
    source: (u32, u32),
    max_edge: u32,
) -> Result<FittedPixels<'a>, PhotoError> {
    let BrowserPixels {
        bytes,
        size,
        order,
        orientation,
    } = pixels;
    let (width, height) = size;
    let expected = u64::from(width) * u64::from(height) * 4;
    if width == 0 || height == 0 || bytes.len() as u64 != expected {
        return Err(PhotoError::InvalidImage(format!(
            "{} bytes are not {width}×{height} four-byte pixels",
            bytes.len()
        )));
    }
    let mut target = fitted_size(source.0, source.1, max_edge.max(1));
    if target.0 > width || target.1 > height || !same_shape(source, size) {
        target = fitted_size(width, height, max_edge.max(1));
    }
    let resized = if target == size {
        Cow::Borrowed(bytes)
    } else {
        Cow::Owned(lanczos3_4(bytes, size, target))
    };
    let (bytes, size) = turn_upright(resized, target, orientation);
    Ok(FittedPixels { bytes, size, order })
}

/// Whether two sizes have the same aspect ratio within 2% (a reduced decode rounds its sides up),
/// so pixels a browser already turned upright are never fitted to the stored size's shape.
fn same_shape(a: (u32, u32), b: (u32, u32)) -> bool {
    let (ab, ba) = (
        u64::from(a.0) * u64::from(b.1),
        u64::from(a.1) * u64::from(b.0),
    );
    ab.abs_diff(ba) * 50 <= ab
}

/// Applies `orientation` to four-byte pixels (their byte order does not matter here).
///
/// `imageops` on the one pixel type rather than `DynamicImage::apply_orientation`, which links
/// the rotations of every pixel type (34 KB of wasm).
fn turn_upright(
    bytes: Cow<'_, [u8]>,
    size: (u32, u32),
    orientation: Orientation,
) -> (Cow<'_, [u8]>, (u32, u32)) {
    use image::imageops::{
        flip_horizontal_in_place, flip_vertical_in_place, rotate90, rotate180_in_place, rotate270,
    };
    if orientation == Orientation::NoTransforms {
        return (bytes, size);
    }
    let mut image = RgbaImage::from_raw(size.0, size.1, bytes.into_owned())
        .expect("the caller passes width × height four-byte pixels");
    match orientation {
        Orientation::NoTransforms => {}
        Orientation::Rotate90 => image = rotate90(&image),
        Orientation::Rotate180 => rotate180_in_place(&mut image),
        Orientation::Rotate270 => image = rotate270(&image),
        Orientation::FlipHorizontal => flip_horizontal_in_place(&mut image),
        Orientation::FlipVertical => flip_vertical_in_place(&mut image),
        Orientation::Rotate90FlipH => {
            image = rotate90(&image);
            flip_horizontal_in_place(&mut image);
        }
        Orientation::Rotate270FlipH => {
            image = rotate270(&image);
            flip_horizontal_in_place(&mut image);
        }
    }
    let size = image.dimensions();
    (Cow::Owned(image.into_raw()), size)
}

impl FittedPixels<'_> {
    /// Width and height, upright.
    pub fn size(&self) -> (u32, u32) {
        self.size
    }

    /// Encodes as JPEG without metadata, at the lowest quality up to `max_quality`
    /// that keeps the photo's look (see [`crate::quality`]'s SSIM target).
    pub fn encode(&self, max_quality: u8) -> Result<EncodedPhoto, PhotoError> {
        self.encode_at(self.choose_quality(max_quality))
    }

    /// The quality [`FittedPixels::encode`] would use: the lowest up to `max_quality` whose
    /// simulated result keeps the SSIM target on a sample of the photo's blocks.
    pub fn choose_quality(&self, max_quality: u8) -> u8 {
        quality::choose(&self.bytes, self.size, self.layout(), max_quality)
    }

    /// Encodes at exactly `quality`, without the search.
    pub fn encode_at(&self, quality: u8) -> Result<EncodedPhoto, PhotoError> {
        let jpeg = encode::jpeg(&self.bytes, self.size, self.layout(), quality)?;
        Ok(EncodedPhoto {
            jpeg,
            width: self.size.0,
            height: self.size.1,
            quality,
        })
    }

    fn layout(&self) -> crate::pixels::Layout {
        match self.order {
            ChannelOrder::Rgba => crate::pixels::Layout::Rgba,
            ChannelOrder::Bgra => crate::pixels::Layout::Bgra,
        }
    }
}

#[cfg(test)]
mod tests {
    use image::RgbImage;

    use super::*;
    use crate::testing::*;
    use crate::{PrepareOptions, prepare};

    fn rgba_of(rgb: &RgbImage, alpha: u8) -> Vec<u8> {
        rgb.pixels()
            .flat_map(|px| [px[0], px[1], px[2], alpha])
            .collect()
    }

    fn upright_rgba(bytes: &[u8], size: (u32, u32)) -> BrowserPixels<'_> {
        BrowserPixels {
            bytes,
            size,
            order: ChannelOrder::Rgba,
            orientation: Orientation::NoTransforms,
        }
    }

    /// Fits and encodes at the native pipeline's fixed quality, so the two compare.
    fn prepare_browser(
        pixels: BrowserPixels<'_>,
        source: (u32, u32),
        max_edge: u32,
    ) -> Result<EncodedPhoto, PhotoError> {
        fit_browser_pixels(pixels, source, max_edge)?.encode_at(90)
    }

    fn decode_jpeg(jpeg: &[u8]) -> RgbImage {
        image::load_from_memory(jpeg).unwrap().into_rgb8()
    }

    #[test]
    fn browser_pixels_become_the_same_photo_as_the_native_pipeline() {
        let picture = photo_like(4000, 3000);
        let native = decode_jpeg(
            &prepare(&png_rgb(&picture), &PrepareOptions::person(2048))
                .unwrap()
                .jpeg,
        );
        let rgba = rgba_of(&picture, 255);
        let encoded =
            prepare_browser(upright_rgba(&rgba, (4000, 3000)), (4000, 3000), 2048).unwrap();
        assert_eq!((encoded.width, encoded.height), (2048, 1536));
        let from_browser = decode_jpeg(&encoded.jpeg);
        assert_eq!(from_browser.dimensions(), (2048, 1536));
        let difference = mean_abs_difference(&from_browser, &native);
        assert!(difference < 1.0, "mean difference {difference:.2}");
        assert!(encoded.jpeg.ends_with(&[0xFF, 0xD9]));
        assert!(
            !jpeg_header_markers(&encoded.jpeg).contains(&0xE1),
            "no EXIF"
        );
    }

    #[test]
    fn the_worker_writes_a_jpeg_without_metadata_at_a_chosen_quality() {
        let picture = scene_like(1024, 768);
        let rgba = rgba_of(&picture, 255);
        let fitted =
            fit_browser_pixels(upright_rgba(&rgba, (1024, 768)), (1024, 768), 2048).unwrap();
        let encoded = fitted.encode(95).unwrap();
        assert!(encoded.quality < 95, "quality {}", encoded.quality);
        let markers = jpeg_header_markers(&encoded.jpeg);
        assert!(markers.contains(&0xC0), "baseline (SOF0): {markers:x?}");
        let app_segments: Vec<u8> = markers
            .iter()
            .copied()
            .filter(|marker| (0xE1..=0xEF).contains(marker) || *marker == 0xFE)
            .collect();
        assert!(
            app_segments.is_empty(),
            "no APPn but JFIF, no comment: {markers:x?}"
        );
        assert!(encoded.jpeg.ends_with(&[0xFF, 0xD9]), "nothing after EOI");
        let decoded = decode_jpeg(&encoded.jpeg);
        assert_eq!(decoded.dimensions(), (1024, 768));
        assert!(mean_abs_difference(&decoded, &picture) < 4.0);
        let at_most = fitted.encode_at(95).unwrap();
        assert!(
            encoded.jpeg.len() < at_most.jpeg.len(),
            "{} bytes chosen, {} at quality 95",
            encoded.jpeg.len(),
            at_most.jpeg.len()
        );
    }

    #[test]
    fn browser_pixels_are_never_upscaled_and_alpha_is_ignored() {
        let picture = quadrants(96, 64);
        let (opaque, clear) = (rgba_of(&picture, 255), rgba_of(&picture, 0));
        let opaque = prepare_browser(upright_rgba(&opaque, (96, 64)), (96, 64), 2048).unwrap();
        let clear = prepare_browser(upright_rgba(&clear, (96, 64)), (96, 64), 2048).unwrap();
        assert_eq!((opaque.width, opaque.height), (96, 64));
        assert_eq!(
            opaque, clear,
            "the browser already drew the photo onto white"
        );
    }

    #[test]
    fn bgra_pixels_give_the_same_photo_as_rgba() {
        let picture = photo_like(300, 200);
        let rgba = rgba_of(&picture, 255);
        let bgra: Vec<u8> = rgba
            .chunks_exact(4)
            .flat_map(|px| [px[2], px[1], px[0], px[3]])
            .collect();
        let from_rgba = prepare_browser(upright_rgba(&rgba, (300, 200)), (300, 200), 128).unwrap();
        let as_bgra = BrowserPixels {
            order: ChannelOrder::Bgra,
            ..upright_rgba(&bgra, (300, 200))
        };
        let from_bgra = prepare_browser(as_bgra, (300, 200), 128).unwrap();
        assert_eq!((from_bgra.width, from_bgra.height), (128, 85));
        assert_eq!(from_rgba, from_bgra);
    }

    #[test]
    fn a_pixel_buffer_of_the_wrong_length_is_an_invalid_image() {
        let rgba = rgba_of(&quadrants(10, 10), 255);
        for (size, bytes) in [
            ((10, 11), &rgba[..]),
            ((10, 10), &rgba[4..]),
            ((0, 0), &[][..]),
        ] {
            let result = fit_browser_pixels(upright_rgba(bytes, size), size, 2048);
            assert!(
                matches!(result, Err(PhotoError::InvalidImage(_))),
                "{size:?}: {result:?}"
            );
        }
    }

    #[test]
    fn reduced_pixels_fit_the_size_of_the_full_photo() {
        // 1001×751 fits 500 as 500×375; a half-scale decode is 501×376, which alone would
        // fit as 500×375.3 → 500×375 too, but a 3/8 decode (376×282) must not be upscaled.
        let half = rgba_of(&photo_like(501, 376), 255);
        let fitted = fit_browser_pixels(upright_rgba(&half, (501, 376)), (1001, 751), 500).unwrap();
        assert_eq!(fitted.size(), (500, 375));
        let small = rgba_of(&photo_like(376, 282), 255);
        let fitted =
            fit_browser_pixels(upright_rgba(&small, (376, 282)), (1001, 751), 500).unwrap();
        assert_eq!(fitted.size(), (376, 282), "never larger than what arrived");
    }

    #[test]
    fn pixels_of_another_shape_than_the_source_are_fitted_by_their_own() {
        // A browser that turned the frame upright itself: portrait pixels of a landscape file.
        let turned = rgba_of(&photo_like(1890, 2520), 255);
        let fitted =
            fit_browser_pixels(upright_rgba(&turned, (1890, 2520)), (4032, 3024), 2048).unwrap();
        assert_eq!(fitted.size(), (1536, 2048));
    }

    #[test]
    fn stored_pixels_are_turned_upright_for_every_orientation() {
        let upright = quadrants(96, 64);
        for exif in 1..=8u8 {
            let stored = stored_for_orientation(&upright, u16::from(exif));
            let rgba = rgba_of(&stored, 255);
            let pixels = BrowserPixels {
                bytes: &rgba,
                size: stored.dimensions(),
                order: ChannelOrder::Rgba,
                orientation: Orientation::from_exif(exif).unwrap(),
            };
            let encoded = prepare_browser(pixels, stored.dimensions(), 2048).unwrap();
            let output = decode_jpeg(&encoded.jpeg);
            assert_eq!(output.dimensions(), (96, 64), "orientation {exif}");
            let difference = mean_abs_difference(&output, &upright);
            assert!(
                difference < 4.0,
                "orientation {exif}: mean difference {difference:.1}"
            );
        }
    }

    #[test]
    fn frame_rotation_and_flip_name_the_exif_orientation() {
        // As Chromium's ImageDecoder reports each EXIF orientation on its frames.
        let frames = [
            (0, false),
            (0, true),
            (180, false),
            (180, true),
            (90, true),
            (90, false),
            (270, true),
            (270, false),
        ];
        for (exif, (rotation, flip)) in (1..=8u8).zip(frames) {
            assert_eq!(
                orientation_of_frame(rotation, flip),
                Orientation::from_exif(exif),
                "rotation {rotation}, flip {flip}"
            );
        }
        assert_eq!(orientation_of_frame(45, false), None);
    }

    #[test]
    fn a_large_jpeg_is_decoded_at_the_smallest_scale_that_keeps_the_oversampling() {
        // 48 MP to 2048: 3/8 is 3024 wide, 1.48 times the output's 2048.
        assert_eq!(jpeg_decode_size((8064, 6048), 2048), Some((3024, 2268)));
        // 12 MP to 2048: 5/8 is 2520 wide, 1.23 times; 4/8 (2016) would be too small.
        assert_eq!(jpeg_decode_size((4032, 3024), 2048), Some((2520, 1890)));
        // Odd sides round up, as libjpeg's scaled sizes do.
        assert_eq!(jpeg_decode_size((8063, 6047), 1000), Some((2016, 1512)));
    }

    #[test]
    fn a_small_jpeg_is_decoded_at_full_size() {
        assert_eq!(jpeg_decode_size((2048, 1536), 2048), None);
        assert_eq!(jpeg_decode_size((2400, 1800), 2048), None);
        assert_eq!(jpeg_decode_size((300, 200), 2048), None);
    }
}
