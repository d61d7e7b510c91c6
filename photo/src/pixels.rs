//! Pixel work between decoding and encoding: alpha flattening and the long-edge resize.

use fast_image_resize::images::Image;
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
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
///
/// `fast_image_resize` rather than `image::imageops::resize`: the same Lanczos3 filter with
/// integer convolution, several times faster. A hand-written fixed-point Lanczos3 was tried
/// for its size (this crate adds about 900 KB to the wasm module) and lost: 12 MP to 2048 px
/// in wasm took 607 ms against 139 ms here.
pub(crate) fn fit_long_edge(rgb: RgbImage, max_edge: u32) -> RgbImage {
    let (width, height) = fitted_size(rgb.width(), rgb.height(), max_edge.max(1));
    if (width, height) == rgb.dimensions() {
        return rgb;
    }
    let (source_width, source_height) = rgb.dimensions();
    let source = Image::from_vec_u8(source_width, source_height, rgb.into_raw(), PixelType::U8x3)
        .expect("an RgbImage buffer holds width × height × 3 bytes");
    let mut target = Image::new(width, height, PixelType::U8x3);
    let lanczos = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Lanczos3));
    Resizer::new()
        .resize(&source, &mut target, &lanczos)
        .expect("both images are U8x3");
    RgbImage::from_raw(width, height, target.into_vec())
        .expect("the target holds width × height × 3 bytes")
}
