//! Test images made in code, never downloaded: encoded pictures, EXIF orientation blocks and
//! hand-edited headers that claim absurd sizes.

use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::PngEncoder;
use image::{ImageEncoder, Rgb, RgbImage, RgbaImage};

/// Four flat quadrants of different colours: every one of the eight EXIF orientations moves
/// them to a different arrangement, so a wrong rotation or flip cannot go unnoticed.
pub const QUADRANTS: [Rgb<u8>; 4] = [
    Rgb([220, 30, 30]),  // top left
    Rgb([30, 200, 40]),  // top right
    Rgb([30, 40, 220]),  // bottom left
    Rgb([240, 220, 30]), // bottom right
];

pub fn quadrants(width: u32, height: u32) -> RgbImage {
    RgbImage::from_fn(width, height, |x, y| {
        let right = usize::from(x >= width / 2);
        let bottom = usize::from(y >= height / 2);
        QUADRANTS[bottom * 2 + right]
    })
}

/// A smooth, textured picture that costs the decoder and resizer what a photo costs.
pub fn photo_like(width: u32, height: u32) -> RgbImage {
    RgbImage::from_fn(width, height, |x, y| {
        let noise = (x.wrapping_mul(2_654_435_761) ^ y.wrapping_mul(40_503)).rotate_left(7) % 24;
        Rgb([
            ((x * 255 / width) as u8).saturating_add(noise as u8),
            ((y * 255 / height) as u8).saturating_add(noise as u8),
            (((x + y) % 256) as u8) / 2 + 60,
        ])
    })
}

/// A portrait-like picture with what JPEG finds easy and hard in a real one: a lit backdrop that
/// is smooth but for slight sensor noise, a figure with a woven top, and a face of flat skin.
pub fn scene_like(width: u32, height: u32) -> RgbImage {
    let (w, h) = (width as f32, height as f32);
    RgbImage::from_fn(width, height, |x, y| {
        let (fx, fy) = (x as f32 / w, y as f32 / h);
        let mut rgb = [215.0 - 70.0 * fy, 200.0 - 50.0 * fx, 170.0 + 50.0 * fy];
        let body = ((fx - 0.5) / 0.22).powi(2) + ((fy - 0.62) / 0.4).powi(2);
        let head = ((fx - 0.5) / 0.08).powi(2) + ((fy - 0.2) / 0.11).powi(2);
        if body < 1.0 {
            let weave = (x as f32 * 0.9).sin() * (y as f32 * 0.7).sin();
            rgb = [
                120.0 + 40.0 * weave,
                40.0 + 25.0 * weave,
                60.0 + 30.0 * weave,
            ];
        } else if head < 1.0 {
            rgb = [224.0, 172.0, 140.0];
        }
        let noise = ((x.wrapping_mul(2_654_435_761) ^ y.wrapping_mul(40_503)).rotate_left(9) % 7)
            as f32
            - 3.0;
        Rgb(rgb.map(|channel| (channel + noise).clamp(0.0, 255.0) as u8))
    })
}

/// How `upright` is stored in a file whose EXIF orientation is `orientation`, written out from
/// the EXIF specification's table ("row 0 is the visual right side, column 0 the visual top",
/// and so on) rather than with the library under test.
pub fn stored_for_orientation(upright: &RgbImage, orientation: u16) -> RgbImage {
    let (w, h) = upright.dimensions();
    let at = |x: u32, y: u32| *upright.get_pixel(x, y);
    match orientation {
        1 => RgbImage::from_fn(w, h, at),
        2 => RgbImage::from_fn(w, h, |x, y| at(w - 1 - x, y)),
        3 => RgbImage::from_fn(w, h, |x, y| at(w - 1 - x, h - 1 - y)),
        4 => RgbImage::from_fn(w, h, |x, y| at(x, h - 1 - y)),
        5 => RgbImage::from_fn(h, w, |c, r| at(r, c)),
        6 => RgbImage::from_fn(h, w, |c, r| at(w - 1 - r, c)),
        7 => RgbImage::from_fn(h, w, |c, r| at(w - 1 - r, h - 1 - c)),
        8 => RgbImage::from_fn(h, w, |c, r| at(r, h - 1 - c)),
        other => panic!("EXIF orientation {other} does not exist"),
    }
}

pub fn jpeg(image: &RgbImage) -> Vec<u8> {
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, 95)
        .encode_image(image)
        .expect("encoding a test JPEG");
    out
}

pub fn png_rgba(image: &RgbaImage) -> Vec<u8> {
    let mut out = Vec::new();
    PngEncoder::new(&mut out)
        .write_image(
            image.as_raw(),
            image.width(),
            image.height(),
            image::ExtendedColorType::Rgba8,
        )
        .expect("encoding a test PNG");
    out
}

pub fn png_rgb(image: &RgbImage) -> Vec<u8> {
    let mut out = Vec::new();
    PngEncoder::new(&mut out)
        .write_image(
            image.as_raw(),
            image.width(),
            image.height(),
            image::ExtendedColorType::Rgb8,
        )
        .expect("encoding a test PNG");
    out
}

/// `jpeg` with an EXIF APP1 segment right after SOI that holds the given orientation and a
/// GPS IFD pointer, as a phone writes it.
pub fn with_exif_orientation(jpeg: &[u8], orientation: u16) -> Vec<u8> {
    let mut tiff = Vec::new();
    tiff.extend_from_slice(b"MM\0\x2A\0\0\0\x08"); // big-endian, IFD0 at offset 8
    tiff.extend_from_slice(&2u16.to_be_bytes()); // two entries
    // Orientation: tag 0x0112, SHORT, count 1, value left-aligned in the 4-byte field.
    tiff.extend_from_slice(&[0x01, 0x12, 0, 3, 0, 0, 0, 1]);
    tiff.extend_from_slice(&orientation.to_be_bytes());
    tiff.extend_from_slice(&[0, 0]);
    // GPSInfo pointer: tag 0x8825, LONG, count 1, pointing past this IFD.
    tiff.extend_from_slice(&[0x88, 0x25, 0, 4, 0, 0, 0, 1, 0, 0, 0, 38]);
    tiff.extend_from_slice(&[0, 0, 0, 0]); // no next IFD
    tiff.extend_from_slice(&[0, 1, 0, 0x1D, 0, 2, 0, 0, 0, 4]); // GPS IFD: one entry (datestamp)
    tiff.extend_from_slice(b"GPS\0\0\0\0\0");

    let mut segment = b"Exif\0\0".to_vec();
    segment.extend_from_slice(&tiff);
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&(segment.len() as u16 + 2).to_be_bytes());
    out.extend_from_slice(&segment);
    out.extend_from_slice(&jpeg[2..]);
    out
}

/// The marker types of a JPEG's segments from SOI up to and including the first SOS.
pub fn jpeg_header_markers(jpeg: &[u8]) -> Vec<u8> {
    assert_eq!(&jpeg[..2], [0xFF, 0xD8], "a JPEG starts with SOI");
    let mut markers = Vec::new();
    let mut at = 2;
    while at + 4 <= jpeg.len() {
        assert_eq!(jpeg[at], 0xFF, "a segment starts at byte {at}");
        let marker = jpeg[at + 1];
        markers.push(marker);
        if marker == 0xDA {
            break;
        }
        at += 2 + usize::from(u16::from_be_bytes([jpeg[at + 2], jpeg[at + 3]]));
    }
    markers
}

/// `jpeg` with the frame header (SOF0) claiming `width`×`height`.
pub fn jpeg_claiming(jpeg: &[u8], width: u16, height: u16) -> Vec<u8> {
    let mut out = jpeg.to_vec();
    let sof = out
        .windows(2)
        .position(|w| w == [0xFF, 0xC0])
        .expect("a baseline JPEG has SOF0");
    // FFC0, length (2), precision (1), then height and width.
    out[sof + 5..sof + 7].copy_from_slice(&height.to_be_bytes());
    out[sof + 7..sof + 9].copy_from_slice(&width.to_be_bytes());
    out
}

/// `png` with its IHDR claiming `width`×`height`, CRC recomputed so the header is valid.
pub fn png_claiming(png: &[u8], width: u32, height: u32) -> Vec<u8> {
    let mut out = png.to_vec();
    // Signature (8), IHDR length (4), "IHDR" (4), then width, height, ... and the CRC over
    // the chunk type and its 13 data bytes.
    out[16..20].copy_from_slice(&width.to_be_bytes());
    out[20..24].copy_from_slice(&height.to_be_bytes());
    let crc = crc32(&out[12..29]);
    out[29..33].copy_from_slice(&crc.to_be_bytes());
    out
}

/// CRC-32 as PNG defines it (ISO 3309, reflected, polynomial 0xEDB88320).
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[test]
fn crc32_matches_the_png_specification_check_value() {
    assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
}

/// The mean absolute difference of two same-sized pictures' channel values (0–255): how far
/// apart two pipelines' outputs are, small for the same photo, large for a wrong turn or shift.
pub fn mean_abs_difference(a: &RgbImage, b: &RgbImage) -> f64 {
    assert_eq!(
        a.dimensions(),
        b.dimensions(),
        "the two pictures differ in size"
    );
    let sum: u64 = a
        .as_raw()
        .iter()
        .zip(b.as_raw())
        .map(|(x, y)| u64::from(x.abs_diff(*y)))
        .sum();
    sum as f64 / a.as_raw().len() as f64
}
