//! Pixel work between decoding and encoding: alpha flattening and the long-edge resize.

use fast_image_resize::images::{TypedImage, TypedImageRef};

use fast_image_resize::pixels::{U8x3, U8x4};
use fast_image_resize::{FilterType, PixelTrait, ResizeAlg, ResizeOptions, Resizer};
use image::{DynamicImage, RgbImage, RgbaImage};

/// JPEG has no alpha: transparent areas become white (what a product photo's background is),
/// not the black that dropping the channel would leave.
pub(crate) fn flatten_onto_white(image: DynamicImage) -> RgbImage {
    if !image.color().has_alpha() {
        return image.into_rgb8();
    }
    composite_on_white(&image.into_rgba8())
}

fn composite_on_white(rgba: &RgbaImage) -> RgbImage {
    let mut rgb = RgbImage::new(rgba.width(), rgba.height());
    for (out, px) in rgb.pixels_mut().zip(rgba.pixels()) {
        let alpha = u16::from(px[3]);
        for channel in 0..3 {
            let over_white = u16::from(px[channel]) * alpha + 255 * (255 - alpha);
            out[channel] = ((over_white + 127) / 255) as u8;
        }
    }
    rgb
}

/// The size that fits `max_edge` on the long side, keeping the aspect ratio; never larger
/// than the source and never zero.
pub(crate) fn fitted_size(width: u32, height: u32, max_edge: u32) -> (u32, u32) {
    let long = width.max(height);
    if long <= max_edge {
        return (width, height);
    }
    let scale = f64::from(max_edge) / f64::from(long);
    let fit = |side: u32| ((f64::from(side) * scale).round() as u32).clamp(1, max_edge);
    (fit(width), fit(height))
}

/// Downscales so the long edge is at most `max_edge`; smaller images pass through untouched.
pub(crate) fn fit_long_edge(rgb: RgbImage, max_edge: u32) -> RgbImage {
    let (width, height) = fitted_size(rgb.width(), rgb.height(), max_edge.max(1));
    if (width, height) == rgb.dimensions() {
        return rgb;
    }
    let resized = lanczos3::<U8x3>(rgb.as_raw(), rgb.dimensions(), (width, height));
    RgbImage::from_raw(width, height, resized).expect("the target holds width × height × 3 bytes")
}

/// Lanczos3 for the worker's four-byte pixels (either channel order; the fourth byte is
/// carried along, not used as alpha) from `from` to `to`.
pub(crate) fn lanczos3_4(pixels: &[u8], from: (u32, u32), to: (u32, u32)) -> Vec<u8> {
    lanczos3::<U8x4>(pixels, from, to)
}

/// Lanczos3 from `source` (`from`, tightly packed pixels of type `P`) to `to`.
///
/// `fast_image_resize` rather than `image::imageops::resize`: the same filter with integer
/// convolution and SIMD (AVX2 natively, simd128 in wasm), several times faster. Called with
/// one pixel type per path (RGB natively, RGBA in the worker) through `resize_typed`, so only
/// that type's kernels are linked: the untyped `resize` dispatches over all thirteen pixel
/// types and put about 900 KB into the worker's wasm module.
fn lanczos3<P: PixelTrait>(source: &[u8], from: (u32, u32), to: (u32, u32)) -> Vec<u8> {
    let source = TypedImageRef::<P>::from_buffer(from.0, from.1, source)
        .expect("the caller passes width × height whole pixels");
    let mut resized = vec![0; to.0 as usize * to.1 as usize * P::size()];
    let mut target = TypedImage::<P>::from_buffer(to.0, to.1, &mut resized)
        .expect("the buffer holds width × height whole pixels");
    let lanczos = ResizeOptions::new()
        .resize_alg(ResizeAlg::Convolution(FilterType::Lanczos3))
        .use_alpha(false);
    Resizer::new()
        .resize_typed(&source, &mut target, &lanczos)
        .expect("source and target have the same pixel type");
    resized
}
/// How the pixels handed to the encoder (`encode::jpeg`) and the quality search are laid
/// out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Layout {
    Rgb,
    /// Four bytes per pixel, red first; the fourth is ignored.
    Rgba,
    /// Four bytes per pixel, blue first; the fourth is ignored.
    Bgra,
}
