//! Decode bombs are refused from their header, before any pixel buffer exists.
//!
//! A counting global allocator records the peak heap growth while each bomb is refused; a
//! single test runs the cases one after another so no other test's allocations interleave.

use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::PngEncoder;
use image::{ImageEncoder, RgbImage};
use peak_alloc::PeakAlloc;
use tryon_photo::{Limits, PhotoError, PrepareOptions, prepare};

/// Counts the heap in use and its peak (the `unsafe` allocator glue is the crate's).
#[global_allocator]
static ALLOCATOR: PeakAlloc = PeakAlloc;

/// Heap growth at the peak of `run`, beyond what was allocated before it.
fn peak_growth<T>(run: impl FnOnce() -> T) -> (T, usize) {
    let before = ALLOCATOR.current_usage();
    ALLOCATOR.reset_peak_usage();
    let output = run();
    (output, ALLOCATOR.peak_usage().saturating_sub(before))
}

fn small_jpeg() -> Vec<u8> {
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, 90)
        .encode_image(&RgbImage::new(16, 16))
        .unwrap();
    out
}

fn small_png() -> Vec<u8> {
    let mut out = Vec::new();
    PngEncoder::new(&mut out)
        .write_image(&[0; 4 * 4 * 3], 4, 4, image::ExtendedColorType::Rgb8)
        .unwrap();
    out
}

/// The first SOF0 of `jpeg` rewritten to claim `width`×`height`.
fn jpeg_claiming(mut jpeg: Vec<u8>, width: u16, height: u16) -> Vec<u8> {
    let sof = jpeg
        .windows(2)
        .position(|w| w == [0xFF, 0xC0])
        .expect("baseline JPEG");
    jpeg[sof + 5..sof + 7].copy_from_slice(&height.to_be_bytes());
    jpeg[sof + 7..sof + 9].copy_from_slice(&width.to_be_bytes());
    jpeg
}

/// The IHDR of `png` rewritten to claim `width`×`height`, with its CRC made valid again.
fn png_claiming(mut png: Vec<u8>, width: u32, height: u32) -> Vec<u8> {
    png[16..20].copy_from_slice(&width.to_be_bytes());
    png[20..24].copy_from_slice(&height.to_be_bytes());
    let mut crc = !0u32;
    for &byte in &png[12..29] {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    png[29..33].copy_from_slice(&(!crc).to_be_bytes());
    png
}

#[test]
fn bombs_are_refused_without_allocating_their_pixels() {
    /// Far below the gigabytes the headers ask for; the input copy the JPEG decoder makes and
    /// the decoders' tables fit easily.
    const BUDGET: usize = 4 * 1024 * 1024;
    let cases = [
        (
            "PNG IHDR 65535×65535",
            png_claiming(small_png(), 65_535, 65_535),
            (65_535, 65_535),
        ),
        (
            "PNG IHDR 20000×20000",
            png_claiming(small_png(), 20_000, 20_000),
            (20_000, 20_000),
        ),
        (
            "JPEG SOF 65500×65500",
            jpeg_claiming(small_jpeg(), 65_500, 65_500),
            (65_500, 65_500),
        ),
    ];
    for limits in [Limits::server(), Limits::browser()] {
        let opts = PrepareOptions::person(2048).with_limits(limits);
        for (name, bytes, (width, height)) in &cases {
            let (result, growth) = peak_growth(|| prepare(bytes, &opts));
            assert_eq!(
                result,
                Err(PhotoError::TooLarge {
                    width: *width,
                    height: *height
                }),
                "{name}"
            );
            assert!(
                growth < BUDGET,
                "{name}: refusing it allocated {growth} bytes at the peak"
            );
        }
    }
}
