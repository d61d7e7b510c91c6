//! Times `prepare` on a 12 MP (4032×3024) photo-like JPEG, or on a file given as argument.
//!
//! `cargo run --release -p tryon-photo --example prepare_timing [-- photo.jpg]`
//! Prints the median of several runs; a figure for the benchmark notes, not a test.

use std::time::{Duration, Instant};

use image::codecs::jpeg::JpegEncoder;
use image::{Rgb, RgbImage};
use tryon_photo::{PhotoError, PrepareOptions, decode_upright, prepare};

const RUNS: usize = 9;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let bytes = match std::env::args().nth(1) {
        Some(path) => std::fs::read(path)?,
        None => synthetic_photo(4032, 3024)?,
    };
    let opts = PrepareOptions::person(2048);
    let decoding = median(|| decode_upright(&bytes, &opts.limits).map(drop))?;
    let prepared = prepare(&bytes, &opts)?;
    let preparing = median(|| prepare(&bytes, &opts).map(drop))?;
    println!(
        "prepare {}x{} ({} KB) -> {}x{} ({} KB): median {:.1} ms (of which decoding {:.1} ms) over {RUNS} runs",
        prepared.source.width,
        prepared.source.height,
        bytes.len() / 1024,
        prepared.width,
        prepared.height,
        prepared.jpeg.len() / 1024,
        preparing.as_secs_f64() * 1e3,
        decoding.as_secs_f64() * 1e3,
    );
    Ok(())
}

fn median(mut run: impl FnMut() -> Result<(), PhotoError>) -> Result<Duration, PhotoError> {
    let mut times = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let started = Instant::now();
        run()?;
        times.push(started.elapsed());
    }
    times.sort();
    Ok(times[RUNS / 2])
}

/// Gradients with fine noise, so the JPEG has the entropy of a real photo (about 3-4 MB).
fn synthetic_photo(width: u32, height: u32) -> Result<Vec<u8>, image::ImageError> {
    let mut seed = 0x9E37_79B9u32;
    let image = RgbImage::from_fn(width, height, |x, y| {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        let noise = (seed % 20) as u8;
        Rgb([
            ((x * 200 / width) as u8).saturating_add(noise),
            ((y * 200 / height) as u8).saturating_add(noise),
            (((x / 40 + y / 40) % 2) as u8 * 80 + 60).saturating_add(noise),
        ])
    });
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, 92).encode_image(&image)?;
    Ok(out)
}
