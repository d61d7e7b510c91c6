//! `cargo xtask bench`'s phone run: the whole try-on as a shopper on a phone lives it, with
//! Lighthouse's mobile profile in headless Chromium (xtask/bench-phone.mjs), for the demo
//! photo and a 12 MP camera photo stored sideways with EXIF orientation 6. Prints each step's
//! time and the bytes the page sent next to the targets of issue 14. Each photo runs twice: a
//! shopper who presses **Try it on** once her photo is uploaded and checked (she read its
//! facts meanwhile), and one who presses the moment it is enabled; for both, the requests after
//! the press show where the wait for the result goes.
//!
//! The figures measure whatever the widget does (one photo upload or two, XHR or fetch), so the
//! same command compares flows; the local provider's own time is fixed and subtracted.

use std::fs;
use std::path::{Path, PathBuf};

use image::codecs::jpeg::JpegEncoder;
use serde_json::Value;

use crate::error::{Error, IoContext, Result};
use crate::process::{self, repo_root};
use crate::testing;

/// How long the local provider takes per try-on: known, so it can be taken off the result time.
const PROVIDER_MS: u64 = 3000;
/// Cold-cache runs per photo; the table shows medians.
const RUNS: u32 = 3;

/// Issue 14's targets on this machine.
const TARGET_TAP_TO_DIALOG_MS: f64 = 1000.0;
const TARGET_PHOTO_TO_ENABLED_MS: f64 = 2500.0;
const TARGET_SUBMIT_TO_RESULT_MS: f64 = 1000.0;
const TARGET_UPLOAD_RATIO: f64 = 1.0;

/// Runs the phone bench on the demo photo and a 12 MP EXIF-6 photo written into `dir`.
pub fn phone(dir: &Path) -> Result<()> {
    let camera = ensure_camera_photo(dir)?;
    let demo = repo_root().join("www/demo/person.jpg");
    let out = dir.join("phone.json");
    let mut command = process::in_repo("node");
    command
        .arg(repo_root().join("xtask/bench-phone.mjs"))
        .arg(&out)
        .arg(PROVIDER_MS.to_string())
        .arg(RUNS.to_string())
        .arg(format!("demo={}", demo.display()))
        .arg(format!("12mp-exif6={}", camera.display()));
    testing::e2e_environment(&mut command);
    process::run(&mut command)?;
    let text = fs::read_to_string(&out).io("reading", &out)?;
    let results: Value = serde_json::from_str(&text)
        .map_err(|err| Error::Setup(format!("bench: {}: {err}", out.display())))?;
    print(&results);
    Ok(())
}

/// A 3024×4032 portrait scene stored as a 4032×3024 landscape JPEG with EXIF orientation 6,
/// as a phone held upright writes it (the camera sensor's rows, turned on display).
fn ensure_camera_photo(dir: &Path) -> Result<PathBuf> {
    let path = dir.join("12mp-exif6.jpg");
    if path.is_file() {
        return Ok(path);
    }
    eprintln!("bench: drawing the 12 MP EXIF-6 phone photo");
    let upright = crate::scene::scene(3024, 4032);
    // Orientation 6 means "turn 90° clockwise to display": the stored picture is the upright
    // one turned 90° counter-clockwise.
    let stored = image::imageops::rotate270(&upright);
    let mut jpeg = Vec::new();
    JpegEncoder::new_with_quality(&mut jpeg, 92)
        .encode_image(&stored)
        .map_err(|err| Error::Setup(format!("bench: encoding the EXIF-6 photo: {err}")))?;
    fs::write(&path, with_exif_orientation(&jpeg, 6)).io("writing", &path)?;
    Ok(path)
}

/// The JPEG with an APP1 Exif segment holding only an Orientation tag right after SOI, as
/// cameras write it (big-endian TIFF, one IFD entry).
fn with_exif_orientation(jpeg: &[u8], orientation: u16) -> Vec<u8> {
    let mut tiff = Vec::with_capacity(26);
    tiff.extend_from_slice(b"MM\0\x2a\0\0\0\x08"); // header, IFD0 at offset 8
    tiff.extend_from_slice(&1u16.to_be_bytes()); // one entry
    tiff.extend_from_slice(&0x0112u16.to_be_bytes()); // Orientation
    tiff.extend_from_slice(&3u16.to_be_bytes()); // SHORT
    tiff.extend_from_slice(&1u32.to_be_bytes()); // one value
    tiff.extend_from_slice(&orientation.to_be_bytes());
    tiff.extend_from_slice(&[0, 0]); // the value field's padding
    tiff.extend_from_slice(&0u32.to_be_bytes()); // no next IFD
    let mut payload = b"Exif\0\0".to_vec();
    payload.extend_from_slice(&tiff);
    let mut out = Vec::with_capacity(jpeg.len() + payload.len() + 4);
    out.extend_from_slice(&jpeg[..2]);
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&(payload.len() as u16 + 2).to_be_bytes());
    out.extend_from_slice(&payload);
    out.extend_from_slice(&jpeg[2..]);
    out
}

/// The median of `field` over a photo's runs.
fn median(runs: &[Value], field: &str) -> f64 {
    median_of(runs, |run| run[field].as_f64())
}

/// The median of a figure computed from each run (runs without it left out).
fn median_of(runs: &[Value], figure: impl Fn(&Value) -> Option<f64>) -> f64 {
    let mut values: Vec<f64> = runs.iter().filter_map(figure).collect();
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn verdict(ok: bool) -> &'static str {
    if ok { "met" } else { "MISSED" }
}

/// The first run's requests after the press, in ms from it: start, first byte, end, body size.
fn print_timeline(run: &Value) {
    println!("  after the press (first run; ms from it: start, first byte, end; body bytes):");
    for entry in run["timeline"].as_array().map_or(&[][..], Vec::as_slice) {
        println!(
            "    {:>6} {:>6} {:>6}  {:>8}  {} ({})",
            entry["start_ms"],
            entry["first_byte_ms"],
            entry["end_ms"],
            entry["bytes"],
            entry["path"].as_str().unwrap_or("?"),
            entry["type"].as_str().unwrap_or("?"),
        );
    }
    println!(
        "    result shown at {:.0}",
        run["submit_to_result_ms"].as_f64().unwrap_or(f64::NAN)
    );
}

fn print(results: &Value) {
    let profile = &results["profile"];
    let provider_ms = results["provider_ms"].as_f64().unwrap_or(f64::NAN);
    println!(
        "\nPhone run, Lighthouse mobile profile in headless Chromium: {} ms round trip, {:.0} kbit/s \
         down, {:.0} kbit/s up, CPU {}× slower, {}×{} touch viewport at {}×; demo storefront on the \
         local provider taking {provider_ms:.0} ms; cold cache; median of {RUNS} runs.",
        profile["latencyMs"],
        profile["downloadBytesPerSecond"].as_f64().unwrap_or(0.0) * 8.0 / 1000.0,
        profile["uploadBytesPerSecond"].as_f64().unwrap_or(0.0) * 8.0 / 1000.0,
        profile["cpuSlowdown"],
        profile["viewport"]["width"],
        profile["viewport"]["height"],
        profile["deviceScaleFactor"],
    );
    let Some(photos) = results["photos"].as_object() else {
        return;
    };
    for (name, runs) in photos {
        let runs = runs.as_array().map_or(&[][..], Vec::as_slice);
        let Some(first) = runs.first() else { continue };
        let tap = median(runs, "tap_to_dialog_ms");
        let enabled = median(runs, "photo_to_enabled_ms");
        let result = median(runs, "submit_to_result_ms");
        let sent = median(runs, "sent_bytes");
        let prepared = median(runs, "prepared_bytes");
        let ratio = sent / prepared;
        println!(
            "\n{name}: prepared photo {} ({:.0} KB)",
            first["facts"].as_str().unwrap_or("?"),
            prepared / 1000.0
        );
        println!(
            "  tap → dialog usable            {:>7.2} s  ({:.0} KB received)   target ≤ {:.1} s: {}",
            tap / 1000.0,
            median(runs, "tap_to_dialog_received_bytes") / 1000.0,
            TARGET_TAP_TO_DIALOG_MS / 1000.0,
            verdict(tap <= TARGET_TAP_TO_DIALOG_MS),
        );
        println!(
            "  photo → \"Try it on\" enabled    {:>7.2} s  ({:.0} KB sent)   target ≤ {:.1} s (12 MP): {}",
            enabled / 1000.0,
            median(runs, "photo_to_enabled_sent_bytes") / 1000.0,
            TARGET_PHOTO_TO_ENABLED_MS / 1000.0,
            verdict(enabled <= TARGET_PHOTO_TO_ENABLED_MS),
        );
        let settled = median(runs, "photo_to_settled_ms");
        if settled.is_finite() {
            println!(
                "  photo → uploaded and checked   {:>7.2} s  (she reads the facts, then presses)",
                settled / 1000.0
            );
        } else {
            println!(
                "  photo → result                 {:>7.2} s  (pressed the moment it was enabled)",
                median(runs, "photo_to_result_ms") / 1000.0
            );
        }
        // The provider's own time is the task's at the proxy (created → succeeded), measured:
        // the local provider's nominal time plus its compositing, on this machine's load.
        let task = median(runs, "task_ms");
        let beyond = median_of(runs, |run| {
            Some(run["submit_to_result_ms"].as_f64()? - run["task_ms"].as_f64()?)
        });
        println!(
            "  \"Try it on\" → result           {:>7.2} s  ({:.0} KB sent; {:.2} s beyond the task's own {:.2} s at the proxy; {:.2} s beyond the nominal {:.1} s)   target ≤ {:.1} s + provider: {}",
            result / 1000.0,
            median(runs, "submit_to_result_sent_bytes") / 1000.0,
            beyond / 1000.0,
            task / 1000.0,
            (result - provider_ms) / 1000.0,
            provider_ms / 1000.0,
            TARGET_SUBMIT_TO_RESULT_MS / 1000.0,
            verdict(beyond <= TARGET_SUBMIT_TO_RESULT_MS),
        );
        println!(
            "  bytes sent per try-on          {:>7.0} KB = {ratio:.2} × the prepared photo, in {} photo upload(s)   target ≤ {TARGET_UPLOAD_RATIO:.1} ×: {}",
            sent / 1000.0,
            first["photo_uploads"],
            verdict(ratio <= TARGET_UPLOAD_RATIO + 0.01),
        );
        let requests: Vec<String> = first["requests_with_bodies"]
            .as_array()
            .map_or(&[][..], Vec::as_slice)
            .iter()
            .map(|request| {
                format!(
                    "{} {} {:.0} KB",
                    request["method"].as_str().unwrap_or("?"),
                    request["path"].as_str().unwrap_or("?"),
                    request["bytes"].as_f64().unwrap_or(0.0) / 1000.0
                )
            })
            .collect();
        println!(
            "  requests with a body (first run): {}",
            requests.join("; ")
        );
        println!(
            "  as DevTools saw them: {}",
            first["devtools_requests_with_bodies"]
        );
        print_timeline(first);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_camera_photo_is_stored_sideways_with_orientation_6() {
        let mut jpeg = Vec::new();
        JpegEncoder::new_with_quality(&mut jpeg, 80)
            .encode_image(&image::RgbImage::new(40, 30))
            .unwrap();
        let tagged = with_exif_orientation(&jpeg, 6);
        let mut decoder = image::ImageReader::new(std::io::Cursor::new(&tagged))
            .with_guessed_format()
            .unwrap()
            .into_decoder()
            .unwrap();
        use image::ImageDecoder;
        assert_eq!(
            decoder.orientation().unwrap(),
            image::metadata::Orientation::Rotate90
        );
        assert_eq!(decoder.dimensions(), (40, 30));
    }
}
