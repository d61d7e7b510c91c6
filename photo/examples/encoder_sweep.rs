//! Bytes, luma SSIM and encode time of the worker's encoder at several fixed qualities, and what
//! the per-photo quality search chooses, on one photo resized as the worker resizes it.
//!
//! `cargo run --release -p tryon-photo --example encoder_sweep -- photo.jpg [max_edge]`
//! SSIM is measured by decoding each output with `image` and comparing with the resized pixels
//! (8×8 windows every 4 pixels, as `cargo xtask bench`); figures, not a test.

use std::time::Instant;

use image::metadata::Orientation;
use tryon_photo::{BrowserPixels, ChannelOrder, EncodedPhoto, fit_browser_pixels};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .ok_or("usage: encoder_sweep photo.jpg [max_edge]")?;
    let max_edge: u32 = args.next().map_or(Ok(2048), |edge| edge.parse())?;
    let source = image::open(&path)?.into_rgba8();
    let size = source.dimensions();
    let pixels = BrowserPixels {
        bytes: source.as_raw(),
        size,
        order: ChannelOrder::Rgba,
        orientation: Orientation::NoTransforms,
    };
    let fitted = fit_browser_pixels(pixels, size, max_edge)?;
    let (width, height) = fitted.size();
    let reference = luma_of(&fitted.encode_at(100)?);
    println!("{path}: {}×{} → {width}×{height}", size.0, size.1);
    println!(
        "{:>10} {:>10} {:>8} {:>9}",
        "quality", "bytes", "SSIM", "time"
    );
    for quality in [60, 65, 70, 75, 80, 85, 90, 95] {
        let started = Instant::now();
        let encoded = fitted.encode_at(quality)?;
        let ms = started.elapsed().as_secs_f64() * 1e3;
        let ssim = ssim(&reference, &luma_of(&encoded), width);
        println!(
            "{quality:>10} {:>10} {ssim:>8.4} {ms:>6.0} ms",
            encoded.jpeg.len()
        );
    }
    let started = Instant::now();
    let chosen = fitted.encode(90)?;
    let ms = started.elapsed().as_secs_f64() * 1e3;
    let ssim = ssim(&reference, &luma_of(&chosen), width);
    println!(
        "{:>10} {:>10} {ssim:>8.4} {ms:>6.0} ms  (search up to 90, chose {})",
        "chosen",
        chosen.jpeg.len(),
        chosen.quality
    );
    Ok(())
}

/// Quality 100 stands in for the resized pixels themselves: its rounding error is far below
/// what any tested quality loses.
fn luma_of(photo: &EncodedPhoto) -> Vec<u8> {
    image::load_from_memory(&photo.jpeg)
        .expect("the encoder's output decodes")
        .into_luma8()
        .into_raw()
}

fn ssim(a: &[u8], b: &[u8], width: u32) -> f64 {
    const C1: f64 = (0.01 * 255.0) * (0.01 * 255.0);
    const C2: f64 = (0.03 * 255.0) * (0.03 * 255.0);
    let width = width as usize;
    let height = a.len() / width;
    let (mut total, mut windows) = (0.0, 0u64);
    for top in (0..=height - 8).step_by(4) {
        for left in (0..=width - 8).step_by(4) {
            let (mut sa, mut sb, mut saa, mut sbb, mut sab) = (0.0, 0.0, 0.0, 0.0, 0.0);
            for y in top..top + 8 {
                for x in left..left + 8 {
                    let (pa, pb) = (f64::from(a[y * width + x]), f64::from(b[y * width + x]));
                    sa += pa;
                    sb += pb;
                    saa += pa * pa;
                    sbb += pb * pb;
                    sab += pa * pb;
                }
            }
            let (ma, mb) = (sa / 64.0, sb / 64.0);
            let (va, vb) = (saa / 64.0 - ma * ma, sbb / 64.0 - mb * mb);
            let cov = sab / 64.0 - ma * mb;
            total += ((2.0 * ma * mb + C1) * (2.0 * cov + C2))
                / ((ma * ma + mb * mb + C1) * (va + vb + C2));
            windows += 1;
        }
    }
    total / windows as f64
}
