//! Plain one-colour images: vendors' results, and inputs for tests.

use std::io::Cursor;

use image::{ImageFormat, Rgb, RgbImage};

/// A PNG of `width`×`height` in one colour, as vendors return results.
pub fn png(width: u32, height: u32, colour: [u8; 3]) -> Vec<u8> {
    encode(width, height, colour, ImageFormat::Png)
}

/// A (lossless) WebP of `width`×`height` in one colour, as TryItOn's 2026 results are.
pub fn webp(width: u32, height: u32, colour: [u8; 3]) -> Vec<u8> {
    encode(width, height, colour, ImageFormat::WebP)
}

/// A JPEG of `width`×`height` in one colour; different colours give different bytes.
pub fn jpeg(width: u32, height: u32, colour: [u8; 3]) -> Vec<u8> {
    encode(width, height, colour, ImageFormat::Jpeg)
}

fn encode(width: u32, height: u32, colour: [u8; 3], format: ImageFormat) -> Vec<u8> {
    let image = RgbImage::from_pixel(width, height, Rgb(colour));
    let mut bytes = Vec::new();
    image
        .write_to(&mut Cursor::new(&mut bytes), format)
        .expect("encoding an in-memory image cannot fail");
    bytes
}
