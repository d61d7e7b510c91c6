//! The output encoder: a baseline JPEG with no metadata segments.
//!
//! `jpeg-encoder` rather than `image`'s JPEG encoder: on a 2048×1536 photo it took about half
//! the time (a leaner scalar path in wasm) for the same size at quality 90. Its `simd` feature
//! adds AVX2 colour conversion and DCT for the proxy's native build (detected at run time; it
//! does nothing for wasm).

use jpeg_encoder::{
    ColorType, Encoder, EncodingError, ImageBuffer, JpegColorType, QuantizationTableType,
    SamplingFactor, rgb_to_ycbcr,
};

use crate::pixels::Layout;
use crate::{PhotoError, quality};

/// Encodes `pixels` (`width` × `height`, laid out as `layout` says) as JPEG with 4:2:0 chroma,
/// as cameras do, with the Annex K tables scaled to `quality` ([`quality::tables`], the very
/// ones the quality search simulates). The encoder writes only JFIF, tables and scan data: no
/// EXIF, no XMP, no ICC profile, nothing after EOI.
///
/// The standard Huffman tables, one interleaved scan. jpeg-encoder 0.6.1 offers optimised
/// Huffman tables, but only by writing one scan per component, which `image`'s decoder (the
/// proxy's) reads as garbage with 4:2:0 chroma; in progressive mode they decode, but on the
/// 12 MP bench photo at 2048 px they were larger than this (445 KB against 443 KB at quality
/// 90, 260 KB against 252 KB at 80) and took 1.6-1.9× the time.
pub(crate) fn jpeg(
    pixels: &[u8],
    (width, height): (u32, u32),
    layout: Layout,
    quality: u8,
) -> Result<Vec<u8>, PhotoError> {
    let failed =
        |err: EncodingError| PhotoError::InvalidImage(format!("JPEG encoding failed: {err}"));
    // JPEG sides are 16-bit; the decoder's side limit keeps every prepared image well inside.
    let too_large = PhotoError::TooLarge { width, height };
    let (Ok(short_width), Ok(short_height)) = (u16::try_from(width), u16::try_from(height)) else {
        return Err(too_large);
    };
    let mut out = Vec::with_capacity(pixels.len() / 8);
    let mut encoder = Encoder::new(&mut out, quality.clamp(1, 100));
    encoder.set_sampling_factor(SamplingFactor::F_2_2);
    let (luma, chroma) = quality::tables(quality);
    encoder.set_quantization_tables(
        QuantizationTableType::Custom(Box::new(luma)),
        QuantizationTableType::Custom(Box::new(chroma)),
    );
    let four_byte = |red| FourBytePixels {
        bytes: pixels,
        width: short_width,
        height: short_height,
        red,
    };
    match layout {
        Layout::Rgb => encoder.encode(pixels, short_width, short_height, ColorType::Rgb),
        Layout::Rgba => encoder.encode_image(four_byte(0)),
        Layout::Bgra => encoder.encode_image(four_byte(2)),
    }
    .map_err(failed)?;
    Ok(out)
}

/// Four-byte pixels as the encoder's YCbCr rows. The encoder's own RGBA and BGRA readers push
/// each converted pixel onto three vectors; this converts a whole row into slices in one
/// loop, which wasm runs faster (with `simd128`, LLVM vectorises it).
struct FourBytePixels<'a> {
    bytes: &'a [u8],
    width: u16,
    height: u16,
    /// Offset of the red byte in a pixel: 0 or 2 (blue is the other).
    red: usize,
}

impl ImageBuffer for FourBytePixels<'_> {
    fn get_jpeg_color_type(&self) -> JpegColorType {
        JpegColorType::Ycbcr
    }

    fn width(&self) -> u16 {
        self.width
    }

    fn height(&self) -> u16 {
        self.height
    }

    fn fill_buffers(&self, y: u16, buffers: &mut [Vec<u8>; 4]) {
        let width = usize::from(self.width);
        let row = &self.bytes[usize::from(y) * width * 4..][..width * 4];
        let [luma, blue_difference, red_difference, _] = buffers;
        ycbcr_row(
            row,
            self.red,
            grow(luma, width),
            grow(blue_difference, width),
            grow(red_difference, width),
        );
    }
}

/// `width` more bytes at the end of `buffer`, to be written.
fn grow(buffer: &mut Vec<u8>, width: usize) -> &mut [u8] {
    let at = buffer.len();
    buffer.resize(at + width, 0);
    &mut buffer[at..]
}

/// Converts one row with the encoder's own integer formula, so the JPEG is the one its RGBA
/// reader would write.
#[cfg_attr(target_arch = "wasm32", target_feature(enable = "simd128"))]
fn ycbcr_row(row: &[u8], red: usize, luma: &mut [u8], cb: &mut [u8], cr: &mut [u8]) {
    let blue = 2 - red;
    let converted = luma.iter_mut().zip(cb.iter_mut()).zip(cr.iter_mut());
    for (pixel, ((y, b), r)) in row.chunks_exact(4).zip(converted) {
        (*y, *b, *r) = rgb_to_ycbcr(pixel[red], pixel[1], pixel[blue]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::photo_like;

    #[test]
    fn four_byte_rows_encode_exactly_as_the_encoders_own_readers() {
        let rgba: Vec<u8> = photo_like(203, 157)
            .pixels()
            .flat_map(|px| [px[0], px[1], px[2], 99])
            .collect();
        let bgra: Vec<u8> = rgba
            .chunks_exact(4)
            .flat_map(|px| [px[2], px[1], px[0], px[3]])
            .collect();
        let theirs = |pixels: &[u8], color| {
            let mut out = Vec::new();
            let mut encoder = Encoder::new(&mut out, 90);
            encoder.set_sampling_factor(SamplingFactor::F_2_2);
            encoder.encode(pixels, 203, 157, color).unwrap();
            out
        };
        let ours = jpeg(&rgba, (203, 157), Layout::Rgba, 90).unwrap();
        assert!(ours == theirs(&rgba, ColorType::Rgba), "RGBA differs");
        let ours = jpeg(&bgra, (203, 157), Layout::Bgra, 90).unwrap();
        assert!(ours == theirs(&bgra, ColorType::Bgra), "BGRA differs");
    }
}
