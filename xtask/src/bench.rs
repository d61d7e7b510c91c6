//! `cargo xtask bench`: figures, not a test. The widget's transfer sizes, and how long preparing
//! a 12 MP and a 48 MP phone photo and the demo photo takes in headless Chromium in the same
//! run: our worker (browser decode, wasm Lanczos3, per-photo quality and JPEG encode), the
//! browser's own decode-resize-encode path at its default JPEG quality and at 0.9, and the npm
//! package pica (xtask/bench.mjs; loopback only); then the phone run of the whole flow
//! (`bench_phone.rs`). `cargo xtask bench photo` or `bench phone` runs one half.
//!
//! Quality is judged here, natively, so no browser code grades itself: the photos are generated
//! and encoded with the `image` crate, the reference is `image`'s own Lanczos3 resize of the
//! decoded source (an implementation none of the three methods uses), and each method's output
//! is compared with it by SSIM on luma.

use std::fs;
use std::path::{Path, PathBuf};

use image::GrayImage;
use image::codecs::jpeg::JpegEncoder;
use image::imageops::FilterType;
use serde_json::Value;

use crate::error::{Error, IoContext, Result};
use crate::process::{self, repo_root};
use crate::{dist, setup, testing};

/// The long-edge limit and JPEG quality the widget prepares person photos with.
const MAX_EDGE: u32 = 2048;

/// A phone photo size to time.
struct Photo {
    name: &'static str,
    width: u32,
    height: u32,
}

/// A 12 MP phone photo, a 48 MP one as recent phones take, and the demo storefront's person
/// (copied from www/demo, drawn by `samples.rs`).
const PHOTOS: [Photo; 3] = [
    Photo {
        name: "12mp",
        width: 4032,
        height: 3024,
    },
    Photo {
        name: "48mp",
        width: 8064,
        height: 6048,
    },
    Photo {
        name: "demo",
        width: 1200,
        height: 1800,
    },
];

/// The methods bench.mjs times, with the label the table shows.
const METHODS: [(&str, &str); 4] = [
    ("ours", "tryon-photo worker (browser decode, wasm)"),
    ("browser", "browser (createImageBitmap + canvas) 0.9"),
    ("browser-default", "browser, canvas JPEG at its default"),
    ("pica", "pica (lanczos3) + canvas encode"),
];

/// Which halves `cargo xtask bench [photo | phone]` runs.
pub fn bench(args: &[String]) -> Result<()> {
    let (photo, phone) = match args {
        [] => (true, true),
        [only] if only == "photo" => (true, false),
        [only] if only == "phone" => (false, true),
        _ => {
            return Err(Error::Usage("cargo xtask bench [photo | phone]".to_owned()));
        }
    };
    setup::ensure_wasm_target()?;
    setup::ensure_chromium()?;
    setup::ensure_node()?;
    setup::ensure_npm_packages()?;
    setup::ensure_demo_samples()?;
    let assets = dist::dist()?;
    testing::build_proxy()?;

    let dir = repo_root().join("target/bench");
    fs::create_dir_all(&dir).io("creating", &dir)?;
    if photo {
        bench_preparation(&dir)?;
    }
    if phone {
        crate::bench_phone::phone(&dir)?;
    }
    println!("\nWidget transfer sizes (target/dist, wasm-release + wasm-opt -Oz):");
    dist::print_size_table(&assets);
    Ok(())
}

fn bench_preparation(dir: &Path) -> Result<()> {
    let dir = dir.to_path_buf();
    for photo in &PHOTOS {
        ensure_source(&dir, photo)?;
    }

    let mut command = process::in_repo("node");
    command
        .arg(repo_root().join("xtask/bench.mjs"))
        .arg(&dir)
        .args(PHOTOS.iter().map(|photo| photo.name));
    testing::e2e_environment(&mut command);
    process::run(&mut command)?;

    let results_path = dir.join("results.json");
    let text = fs::read_to_string(&results_path).io("reading", &results_path)?;
    let results: Value = serde_json::from_str(&text)
        .map_err(|err| failure(format!("{}: {err}", results_path.display())))?;
    for photo in &PHOTOS {
        print_photo(&dir, photo, &results)?;
    }
    Ok(())
}

fn failure(message: String) -> Error {
    Error::Setup(format!("bench: {message}"))
}

fn source_path(dir: &Path, photo: &Photo) -> PathBuf {
    dir.join(format!("{}.jpg", photo.name))
}

/// Writes the photo's JPEG unless an earlier run did (drawing 48 MP takes a while).
fn ensure_source(dir: &Path, photo: &Photo) -> Result<()> {
    let path = source_path(dir, photo);
    if path.is_file() {
        return Ok(());
    }
    if photo.name == "demo" {
        let demo = repo_root().join("www/demo/person.jpg");
        fs::copy(&demo, &path).io("copying", &demo)?;
        return Ok(());
    }
    eprintln!("bench: drawing the {} test photo", photo.name);
    let mut jpeg = Vec::new();
    JpegEncoder::new_with_quality(&mut jpeg, 92)
        .encode_image(&crate::scene::scene(photo.width, photo.height))
        .map_err(|err| failure(format!("encoding {}: {err}", photo.name)))?;
    fs::write(&path, jpeg).io("writing", &path)
}

/// The size the widget prepares `width`×`height` to (as `tryon_photo` computes it).
fn fitted(width: u32, height: u32) -> (u32, u32) {
    let scale = f64::from(MAX_EDGE) / f64::from(width.max(height));
    if scale >= 1.0 {
        return (width, height);
    }
    let side = |s: u32| ((f64::from(s) * scale).round() as u32).max(1);
    (side(width), side(height))
}

fn decode_luma(path: &Path) -> Result<GrayImage> {
    let bytes = fs::read(path).io("reading", path)?;
    let image = image::load_from_memory(&bytes)
        .map_err(|err| failure(format!("decoding {}: {err}", path.display())))?;
    Ok(image.into_luma8())
}

/// Prints one photo's table: time, longest main-thread task, output and SSIM per method.
fn print_photo(dir: &Path, photo: &Photo, results: &Value) -> Result<()> {
    let figures = &results["photos"][photo.name];
    let source = image::load_from_memory(&fs::read(source_path(dir, photo)).io("reading", dir)?)
        .map_err(|err| failure(format!("decoding the {} source: {err}", photo.name)))?;
    let (width, height) = fitted(photo.width, photo.height);
    let reference =
        image::imageops::resize(&source.into_luma8(), width, height, FilterType::Lanczos3);

    println!(
        "\nPreparing a {}×{} JPEG ({:.1} MiB) to long edge {MAX_EDGE}, JPEG quality {} (ours: at \
         most), in headless Chromium {}; median of {} runs after one warm-up. SSIM: luma against \
         image's Lanczos3.",
        photo.width,
        photo.height,
        figures["source_bytes"].as_f64().unwrap_or(0.0) / 1024.0 / 1024.0,
        results["quality"],
        results["chromium"].as_str().unwrap_or("?"),
        figures["runs"],
    );
    println!(
        "{:<44} {:>8} {:>8} {:>8} {:>10} {:>12}  {:<22} {:>6}",
        "method", "median", "min", "max", "first run", "main thread", "output", "SSIM"
    );
    let mut scores = Vec::new();
    for (key, label) in METHODS {
        let method = &figures["methods"][key];
        let ms = |field: &str| format!("{:.0} ms", method[field].as_f64().unwrap_or(f64::NAN));
        let output = decode_luma(&dir.join(format!("{}-{key}.jpg", photo.name)))?;
        let bytes = method["bytes"].as_f64().unwrap_or(f64::NAN);
        let score = if output.dimensions() == reference.dimensions() {
            let score = ssim(&reference, &output);
            let ms = method["median_ms"].as_f64().unwrap_or(f64::NAN);
            scores.push((key, ms, bytes, score));
            format!("{score:.4}")
        } else {
            format!("size {}×{}?", output.width(), output.height())
        };
        println!(
            "{label:<44} {:>8} {:>8} {:>8} {:>10} {:>12}  {:<22} {score:>6}",
            ms("median_ms"),
            ms("min_ms"),
            ms("max_ms"),
            ms("first_ms"),
            ms("longest_task_ms"),
            format!(
                "{}×{}, {:.0} KiB{}",
                method["width"],
                method["height"],
                bytes / 1024.0,
                method["quality"]
                    .as_u64()
                    .map_or(String::new(), |quality| format!(", q{quality}"))
            ),
        );
        if let Some(steps) = method["steps"].as_object() {
            print_steps(steps, method["decoded"].as_str());
        }
    }
    print_verdict(&scores);
    println!(
        "(pica {}; main thread: the longest task over 50 ms the page saw during the timed runs, 0 = none)",
        results["pica"].as_str().unwrap_or("?")
    );
    Ok(())
}

/// The worker's own timings, in pipeline order (median of each step over the timed runs), and
/// the size the browser decoded at (the photo's own, or a reduced JPEG scale).
fn print_steps(steps: &serde_json::Map<String, Value>, decoded: Option<&str>) {
    const ORDER: [(&str, &str); 5] = [
        ("decodeMs", "decode"),
        ("copyMs", "copy into wasm"),
        ("resizeMs", "resize"),
        ("qualityMs", "choose quality"),
        ("encodeMs", "encode"),
    ];
    let parts: Vec<String> = ORDER
        .iter()
        .filter_map(|(key, label)| {
            let ms = steps.get(*key)?.as_f64()?;
            Some(format!("{label} {ms:.0} ms"))
        })
        .collect();
    let decoded = decoded.map_or(String::new(), |size| format!("; decoded at {size}"));
    println!("    worker steps (medians): {}{decoded}", parts.join(", "));
}

/// The bytes target of issue 14: at most this share of the browser's canvas JPEG at 0.9.
const TARGET_BYTES_RATIO: f64 = 0.8;

/// Lines that answer the issues' questions for this photo: is ours faster than the browser's
/// path and pica, with fewer bytes, at equal or better SSIM? `scores` holds (method, median ms,
/// bytes, SSIM).
fn print_verdict(scores: &[(&str, f64, f64, f64)]) {
    let Some(&(_, ours_ms, ours_bytes, ours_ssim)) = scores.iter().find(|(key, ..)| *key == "ours")
    else {
        return;
    };
    let parts: Vec<String> = scores
        .iter()
        .filter(|(key, ..)| *key != "ours")
        .map(|(key, ms, bytes, score)| {
            format!(
                "{:.2}× the time of {key}, {:.2}× its bytes, SSIM {:+.4}",
                ours_ms / ms,
                ours_bytes / bytes,
                ours_ssim - score
            )
        })
        .collect();
    println!("ours: {}", parts.join("; "));
    if let Some(&(_, _, bytes, score)) = scores.iter().find(|(key, ..)| *key == "browser") {
        let met = ours_bytes <= TARGET_BYTES_RATIO * bytes && ours_ssim >= score;
        println!(
            "target (≤ {TARGET_BYTES_RATIO}× the browser's bytes at 0.9, SSIM at least its): {}",
            if met { "met" } else { "MISSED" }
        );
    }
}

/// Mean SSIM (Wang et al. 2004) of two same-sized grey images over 8×8 windows every 4 pixels,
/// with the usual constants for 8-bit data.
fn ssim(a: &GrayImage, b: &GrayImage) -> f64 {
    const WINDOW: u32 = 8;
    const STEP: usize = 4;
    const C1: f64 = (0.01 * 255.0) * (0.01 * 255.0);
    const C2: f64 = (0.03 * 255.0) * (0.03 * 255.0);
    assert_eq!(
        a.dimensions(),
        b.dimensions(),
        "SSIM compares same-sized images"
    );
    let (width, height) = a.dimensions();
    let n = f64::from(WINDOW * WINDOW);
    let (mut total, mut windows) = (0.0, 0u64);
    for top in (0..=height.saturating_sub(WINDOW)).step_by(STEP) {
        for left in (0..=width.saturating_sub(WINDOW)).step_by(STEP) {
            let (mut sa, mut sb, mut saa, mut sbb, mut sab) = (0.0, 0.0, 0.0, 0.0, 0.0);
            for y in top..top + WINDOW {
                for x in left..left + WINDOW {
                    let (pa, pb) = (
                        f64::from(a.get_pixel(x, y)[0]),
                        f64::from(b.get_pixel(x, y)[0]),
                    );
                    sa += pa;
                    sb += pb;
                    saa += pa * pa;
                    sbb += pb * pb;
                    sab += pa * pb;
                }
            }
            let (ma, mb) = (sa / n, sb / n);
            let (va, vb) = (saa / n - ma * ma, sbb / n - mb * mb);
            let cov = sab / n - ma * mb;
            total += ((2.0 * ma * mb + C1) * (2.0 * cov + C2))
                / ((ma * ma + mb * mb + C1) * (va + vb + C2));
            windows += 1;
        }
    }
    total / windows as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gradient() -> GrayImage {
        GrayImage::from_fn(64, 48, |x, y| image::Luma([(x * 3 + y * 2) as u8]))
    }

    #[test]
    fn ssim_of_an_image_with_itself_is_one() {
        let image = gradient();
        assert!((ssim(&image, &image) - 1.0).abs() < 1e-9);
    }

    #[test]
    fn ssim_falls_with_noise_and_more_with_more_noise() {
        let image = gradient();
        let noisy = |amount: u32| {
            GrayImage::from_fn(64, 48, |x, y| {
                let noise = (x * 7 + y * 13) % (2 * amount + 1);
                image::Luma([(image.get_pixel(x, y)[0] as u32 + noise).min(255) as u8])
            })
        };
        let (slight, strong) = (ssim(&image, &noisy(2)), ssim(&image, &noisy(20)));
        assert!(
            slight < 1.0 && strong < slight,
            "slight {slight}, strong {strong}"
        );
    }

    #[test]
    fn fitted_sizes_match_the_widget() {
        assert_eq!(fitted(1200, 1800), (1200, 1800));
        assert_eq!(fitted(4032, 3024), (2048, 1536));
        assert_eq!(fitted(8064, 6048), (2048, 1536));
        assert_eq!(fitted(1000, 800), (1000, 800));
    }
}
