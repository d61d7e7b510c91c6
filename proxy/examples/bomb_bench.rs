//! Time and memory the proxy spends refusing decompression bombs (issue 6: each must be refused
//! in under 100 ms without the process growing by more than 64 MB). A benchmark that prints
//! figures, not a test:
//!
//! ```sh
//! cargo run --release -p tryon-proxy --example bomb_bench
//! ```
//!
//! Each input goes through `tryon_photo::prepare` with the proxy's limits, exactly as an upload
//! does. Peak RSS is reset (`/proc/self/clear_refs`) before each run and read (`VmHWM`) after,
//! so the growth shown is what that one preparation added. A legitimate 12 MP photo is
//! measured too, to show the method does see real allocations.

#[path = "../tests/hardening/corpus.rs"]
mod corpus;

use std::time::Instant;

use image::{ImageFormat, Rgb, RgbImage};
use tryon_photo::PrepareOptions;

fn main() {
    let photo = {
        let image = RgbImage::from_fn(4032, 3024, |x, y| {
            Rgb([(x % 251) as u8, (y % 241) as u8, 128])
        });
        let mut out = std::io::Cursor::new(Vec::new());
        image.write_to(&mut out, ImageFormat::Jpeg).expect("encode");
        out.into_inner()
    };
    let small_jpeg = {
        let mut out = std::io::Cursor::new(Vec::new());
        RgbImage::new(16, 16)
            .write_to(&mut out, ImageFormat::Jpeg)
            .expect("encode");
        out.into_inner()
    };
    let inputs = [
        (
            "PNG IHDR 65535x65535",
            corpus::png_header_bomb(65535, 65535),
        ),
        (
            "JPEG SOF 65500x65500",
            corpus::jpeg_sof_bomb(&small_jpeg, 65500, 65500),
        ),
        ("PNG 20000x20000 all-zero", corpus::zero_png(20_000)),
        ("control: JPEG 4032x3024", photo),
    ];
    println!(
        "{:<26} {:>10} {:>10} {:>14} {:>16}",
        "input", "file B", "result", "time ms", "peak RSS +MB"
    );
    for (name, bytes) in inputs {
        reset_peak_rss();
        let before = rss_kb("VmRSS");
        let started = Instant::now();
        let outcome = tryon_photo::prepare(&bytes, &PrepareOptions::person(2048));
        let elapsed = started.elapsed();
        let growth_mb = rss_kb("VmHWM").saturating_sub(before) as f64 / 1024.0;
        let result = match &outcome {
            Ok(_) => "accepted".to_owned(),
            Err(error) => error.code().to_owned(),
        };
        println!(
            "{name:<26} {:>10} {result:>10} {:>14.2} {growth_mb:>16.1}",
            bytes.len(),
            elapsed.as_secs_f64() * 1000.0
        );
    }
}

/// Resets VmHWM to the current RSS (Linux ≥ 4.0).
fn reset_peak_rss() {
    std::fs::write("/proc/self/clear_refs", "5").expect("write /proc/self/clear_refs");
}

fn rss_kb(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    status
        .lines()
        .find_map(|line| {
            line.strip_prefix(field)?
                .trim_start_matches(':')
                .trim()
                .strip_suffix("kB")?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("{field} missing from /proc/self/status"))
}
