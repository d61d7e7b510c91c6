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
//!
//! The browser worker runs a shorter pipeline ([`fit_browser_pixels`], then
//! [`FittedPixels::encode`]): the browser's own decoder is faster than any decoder compiled to
//! wasm, so the worker only asks [`inspect`] whether the header is acceptable, lets the browser
//! decode (a large JPEG at a reduced scale, see [`jpeg_decode_size`]), and hands the pixels
//! back here to be resized, turned upright and encoded.

mod browser;
mod decode;
mod encode;
mod error;
mod header;
mod options;
mod pixels;
mod quality;
mod sniff;
#[cfg(test)]
mod testing;
#[cfg(feature = "wasm")]
mod wasm;

pub use browser::{
    BrowserPixels, ChannelOrder, EncodedPhoto, FittedPixels, fit_browser_pixels, jpeg_decode_size,
    orientation_of_frame,
};
pub use decode::decode_upright;
pub use error::PhotoError;
pub use header::{check_dimensions, inspect, jpeg_is_stored_upright};
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
    prepare_at(bytes, opts, false)
}

/// [`prepare`] for a picture that is only looked at, such as a try-on result fitted to a
/// phone's screen: its quality is chosen per picture as the browser worker's is (the lowest
/// from 60 up to `opts.jpeg_quality` that keeps a luma SSIM of 0.97, see `quality.rs`), so it
/// costs the fewest bytes that still look the same.
pub fn prepare_for_display(
    bytes: &[u8],
    opts: &PrepareOptions,
) -> Result<PreparedPhoto, PhotoError> {
    prepare_at(bytes, opts, true)
}

fn prepare_at(
    bytes: &[u8],
    opts: &PrepareOptions,
    choose_quality: bool,
) -> Result<PreparedPhoto, PhotoError> {
    let decoded = decode::decode(bytes, &opts.limits)?;
    let source = decoded.source;
    let rgb = pixels::flatten_onto_white(decoded.image);
    let mut image = image::DynamicImage::ImageRgb8(pixels::fit_long_edge(rgb, opts.max_edge));
    image.apply_orientation(decoded.orientation);
    let (width, height) = (image.width(), image.height());
    let pixels = image.into_rgb8();
    let quality = if choose_quality {
        quality::choose(
            pixels.as_raw(),
            (width, height),
            crate::pixels::Layout::Rgb,
            opts.jpeg_quality,
        )
    } else {
        opts.jpeg_quality
    };
    let jpeg = encode::jpeg(
        pixels.as_raw(),
        (width, height),
        crate::pixels::Layout::Rgb,
        quality,
    )?;
    Ok(PreparedPhoto {
        jpeg,
        width,
        height,
        source,
    })
}

#[cfg(test)]
mod tests {
    use image::{GenericImageView, RgbImage, Rgba, RgbaImage};

    use super::*;
    use crate::testing::*;

    fn roomy() -> PrepareOptions {
        PrepareOptions::person(4096)
    }

    fn decode_output(prepared: &PreparedPhoto) -> RgbImage {
        let image = image::load_from_memory_with_format(&prepared.jpeg, image::ImageFormat::Jpeg)
            .expect("the output is a decodable JPEG")
            .into_rgb8();
        assert_eq!(
            image.dimensions(),
            (prepared.width, prepared.height),
            "reported size is the JPEG's"
        );
        image
    }

    #[test]
    fn a_picture_for_display_costs_no_more_than_a_fixed_quality_and_keeps_its_shape() {
        let photo = jpeg(&quadrants(640, 960));
        let opts = PrepareOptions::person(480);
        let fixed = prepare(&photo, &opts).unwrap();
        let shown = prepare_for_display(&photo, &opts).unwrap();
        assert_eq!((shown.width, shown.height), (fixed.width, fixed.height));
        assert_eq!((shown.width, shown.height), (320, 480));
        assert!(
            shown.jpeg.len() <= fixed.jpeg.len(),
            "{} > {}",
            shown.jpeg.len(),
            fixed.jpeg.len()
        );
        let difference = mean_abs_difference(&decode_output(&shown), &decode_output(&fixed));
        assert!(difference < 6.0, "looks the same: {difference}");
    }

    #[test]
    fn all_eight_exif_orientations_give_the_same_upright_picture() {
        let upright = quadrants(96, 64);
        for orientation in 1..=8 {
            let stored = stored_for_orientation(&upright, orientation);
            let file = with_exif_orientation(&jpeg(&stored), orientation);
            let prepared = prepare(&file, &roomy())
                .unwrap_or_else(|e| panic!("orientation {orientation}: {e}"));
            assert_eq!(
                (prepared.source.width, prepared.source.height),
                stored.dimensions(),
                "orientation {orientation}"
            );
            let output = decode_output(&prepared);
            let difference = mean_abs_difference(&output, &upright);
            assert!(
                difference < 4.0,
                "orientation {orientation}: mean difference {difference:.1}"
            );
            for (x, y, colour) in [(20, 15, 0), (76, 15, 1), (20, 50, 2), (76, 50, 3)] {
                let got = output.get_pixel(x, y);
                let want = QUADRANTS[colour];
                let close = got.0.iter().zip(want.0).all(|(g, w)| g.abs_diff(w) <= 12);
                assert!(
                    close,
                    "orientation {orientation}: ({x},{y}) is {got:?}, want {want:?}"
                );
            }
        }
    }

    #[test]
    fn small_photos_are_never_upscaled() {
        let prepared =
            prepare(&jpeg(&photo_like(300, 200)), &PrepareOptions::person(2048)).unwrap();
        assert_eq!((prepared.width, prepared.height), (300, 200));
    }

    #[test]
    fn person_photos_fit_2048_on_the_long_edge() {
        let prepared = prepare(
            &jpeg(&photo_like(4000, 3000)),
            &PrepareOptions::person(2048),
        )
        .unwrap();
        assert_eq!((prepared.width, prepared.height), (2048, 1536));
        decode_output(&prepared);
    }

    #[test]
    fn garment_photos_fit_1024_on_the_long_edge() {
        let prepared = prepare(
            &png_rgb(&photo_like(1500, 2000)),
            &PrepareOptions::garment(1024),
        )
        .unwrap();
        assert_eq!((prepared.width, prepared.height), (768, 1024));
        assert_eq!(
            prepared.source,
            SourceInfo {
                format: SourceFormat::Png,
                width: 1500,
                height: 2000
            }
        );
    }

    #[test]
    fn the_bound_applies_to_the_upright_long_edge() {
        let stored = stored_for_orientation(&photo_like(800, 2400), 6);
        let file = with_exif_orientation(&jpeg(&stored), 6);
        let prepared = prepare(&file, &PrepareOptions::person(2048)).unwrap();
        assert_eq!(
            (prepared.width, prepared.height),
            (683, 2048),
            "portrait, as the shopper held the phone"
        );
    }

    #[test]
    fn transparency_is_flattened_onto_white() {
        let mut rgba = RgbaImage::from_pixel(40, 20, Rgba([0, 0, 0, 0]));
        for y in 0..20 {
            for x in 20..40 {
                rgba.put_pixel(x, y, Rgba([255, 0, 0, 128]));
            }
        }
        let output = decode_output(&prepare(&png_rgba(&rgba), &roomy()).unwrap());
        let clear = output.get_pixel(5, 10);
        assert!(
            clear.0.iter().all(|&c| c >= 245),
            "transparent became white, got {clear:?}"
        );
        let half = output.get_pixel(30, 10);
        assert!(
            half[0] >= 245 && half[1].abs_diff(127) <= 10 && half[2].abs_diff(127) <= 10,
            "{half:?}"
        );
    }

    #[test]
    fn output_carries_no_metadata_and_ends_at_eoi() {
        let file = with_exif_orientation(&jpeg(&photo_like(64, 48)), 6);
        assert!(
            jpeg_header_markers(&file).contains(&0xE1),
            "the input has EXIF"
        );
        let prepared = prepare(&file, &roomy()).unwrap();
        let markers = jpeg_header_markers(&prepared.jpeg);
        assert!(
            !markers.contains(&0xE1),
            "no APP1 (EXIF/XMP) in {markers:x?}"
        );
        assert!(!markers.contains(&0xE2), "no APP2 (ICC) in {markers:x?}");
        assert!(prepared.jpeg.ends_with(&[0xFF, 0xD9]), "nothing after EOI");
        assert_eq!(
            prepared.jpeg.windows(4).filter(|w| *w == b"Exif").count(),
            0
        );
    }

    #[test]
    fn trailing_payloads_do_not_travel_on() {
        let mut polyglot = jpeg(&photo_like(64, 48));
        polyglot.extend_from_slice(b"PK\x03\x04<html><script>alert(1)</script>");
        let prepared = prepare(&polyglot, &roomy()).unwrap();
        assert!(prepared.jpeg.ends_with(&[0xFF, 0xD9]));
        assert!(!prepared.jpeg.windows(4).any(|w| w == b"PK\x03\x04"));
    }

    #[test]
    fn webp_is_accepted() {
        let mut webp = Vec::new();
        image::DynamicImage::ImageRgb8(quadrants(32, 16))
            .write_to(
                &mut std::io::Cursor::new(&mut webp),
                image::ImageFormat::WebP,
            )
            .unwrap();
        let prepared = prepare(&webp, &roomy()).unwrap();
        assert_eq!(prepared.source.format, SourceFormat::WebP);
        assert_eq!((prepared.width, prepared.height), (32, 16));
    }

    #[test]
    fn empty_corrupt_and_truncated_files_are_invalid_images() {
        let good_jpeg = jpeg(&photo_like(200, 150));
        let good_png = png_rgb(&photo_like(200, 150));
        let mut scrambled = good_jpeg.clone();
        for byte in scrambled.iter_mut().skip(3).step_by(7) {
            *byte = byte.wrapping_mul(31).wrapping_add(17);
        }
        let cases: [(&str, Vec<u8>); 7] = [
            ("empty", vec![]),
            ("JPEG magic only", vec![0xFF, 0xD8, 0xFF]),
            ("truncated JPEG", good_jpeg[..good_jpeg.len() / 2].to_vec()),
            ("scrambled JPEG", scrambled),
            ("truncated PNG", good_png[..good_png.len() / 2].to_vec()),
            ("PNG signature only", good_png[..8].to_vec()),
            (
                "WebP header only",
                b"RIFF\x24\0\0\0WEBPVP8 \x18\0\0\0".to_vec(),
            ),
        ];
        for (name, bytes) in cases {
            match prepare(&bytes, &roomy()) {
                Err(PhotoError::InvalidImage(_)) => {}
                other => panic!("{name}: expected InvalidImage, got {other:?}"),
            }
        }
    }

    #[test]
    fn zero_sized_images_are_invalid() {
        let png = png_claiming(&png_rgb(&photo_like(4, 4)), 0, 0);
        let jpeg = jpeg_claiming(&jpeg(&photo_like(8, 8)), 0, 0);
        for (name, bytes) in [("PNG", png), ("JPEG", jpeg)] {
            let result = prepare(&bytes, &roomy());
            assert!(
                matches!(result, Err(PhotoError::InvalidImage(_))),
                "{name}: {result:?}"
            );
        }
    }

    #[test]
    fn non_images_are_unsupported_types() {
        let cases: [&[u8]; 6] = [
            b"<svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(1)</script></svg>",
            b"<!DOCTYPE html><html><body>hi</body></html>",
            b"GIF89a\x01\0\x01\0\x80\0\0\0\0\0\xff\xff\xff!\xf9\x04\x01\0\0\0\0,\0\0\0\0\x01\0\x01\0\0\x02\x02D\x01\0;",
            b"%PDF-1.7\n",
            b"PK\x03\x04\x14\0\0\0",
            b"BM\x3a\0\0\0\0\0\0\0\x36\0\0\0\x28\0\0\0\x01\0\0\0\x01\0\0\0\x01\0\x18\0",
        ];
        for bytes in cases {
            assert_eq!(
                prepare(bytes, &roomy()),
                Err(PhotoError::UnsupportedType),
                "{:?}",
                &bytes[..8]
            );
        }
    }

    #[test]
    fn huge_header_dimensions_are_refused_as_too_large() {
        let png = png_claiming(&png_rgb(&photo_like(4, 4)), 65_535, 65_535);
        let jpeg = jpeg_claiming(&jpeg(&photo_like(16, 16)), 65_500, 65_500);
        for limits in [Limits::server(), Limits::browser()] {
            let opts = roomy().with_limits(limits);
            assert_eq!(
                prepare(&png, &opts),
                Err(PhotoError::TooLarge {
                    width: 65_535,
                    height: 65_535
                })
            );
            assert_eq!(
                prepare(&jpeg, &opts),
                Err(PhotoError::TooLarge {
                    width: 65_500,
                    height: 65_500
                })
            );
        }
    }

    #[test]
    fn the_pixel_budget_is_the_limit() {
        let file = jpeg(&photo_like(100, 100));
        let tight = Limits {
            max_pixels: 9_999,
            max_alloc: 1 << 30,
        };
        assert_eq!(
            prepare(&file, &roomy().with_limits(tight)),
            Err(PhotoError::TooLarge {
                width: 100,
                height: 100
            })
        );
        let starved = Limits {
            max_pixels: 1 << 30,
            max_alloc: 1_000,
        };
        assert_eq!(
            prepare(&file, &roomy().with_limits(starved)),
            Err(PhotoError::TooLarge {
                width: 100,
                height: 100
            })
        );
        let exact = Limits {
            max_pixels: 10_000,
            max_alloc: 1 << 30,
        };
        assert!(prepare(&file, &roomy().with_limits(exact)).is_ok());
    }

    #[test]
    fn browser_limits_accept_a_64_megapixel_header() {
        let file = jpeg_claiming(&jpeg(&photo_like(16, 16)), 9248, 6936);
        let server = decode::decode(&file, &Limits::server());
        assert!(matches!(
            server,
            Err(PhotoError::TooLarge {
                width: 9248,
                height: 6936
            })
        ));
        // The header passes the browser's budget; the 16×16 scan data then fails to fill it.
        let browser = decode::decode(&file, &Limits::browser());
        assert!(!matches!(browser, Err(PhotoError::TooLarge { .. })));
    }

    #[test]
    fn decode_upright_applies_the_orientation_at_full_size() {
        let upright = quadrants(60, 40);
        let file = with_exif_orientation(&jpeg(&stored_for_orientation(&upright, 8)), 8);
        let image = decode_upright(&file, &Limits::server()).unwrap();
        assert_eq!(image.dimensions(), (60, 40));
        let top_left = image.get_pixel(10, 10);
        assert!(top_left[0] > 180 && top_left[1] < 80, "{top_left:?}");
    }

    #[test]
    fn debug_output_shows_shape_not_bytes() {
        let prepared = prepare(&jpeg(&photo_like(20, 10)), &roomy()).unwrap();
        let text = format!("{prepared:?}");
        assert!(text.starts_with("PreparedPhoto(20x10, "), "{text}");
        assert!(text.len() < 120, "{text}");
    }
}
