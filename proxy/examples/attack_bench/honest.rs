//! The honest client: one request every few milliseconds, each on a new connection (a shopper
//! who just arrived), timed from the moment it was due to its answer.

use std::fmt;
use std::future::Future;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// A loopback address of its own, so per-address limits never count it with the attacker.
pub const HONEST_ADDRESS: &str = "127.0.0.1";

/// How long any one honest request may take before it counts as failed.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// A client that opens a new connection per request, from `from`.
pub fn fresh_connection_client(from: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(0)
        .local_address(from.parse::<IpAddr>().ok())
        .timeout(REQUEST_TIMEOUT)
        .build()
        .expect("client builds")
}

/// Latencies of the answers the honest client wanted, and how many went wrong.
#[derive(Debug, Default)]
pub struct Latencies {
    /// Milliseconds, sorted, of the answers with the expected status.
    pub ok_ms: Vec<f64>,
    /// Answers with another status (e.g. 429) or no answer.
    pub refused: usize,
    pub failed: usize,
}

impl fmt::Display for Latencies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let total = self.ok_ms.len() + self.refused + self.failed;
        write!(
            f,
            "p50 {:.1} ms, p99 {:.1} ms over {} answered as expected of {total} \
             ({} refused, {} without an answer)",
            percentile(&self.ok_ms, 0.50),
            percentile(&self.ok_ms, 0.99),
            self.ok_ms.len(),
            self.refused,
            self.failed,
        )
    }
}

/// Sends one `probe` every `every` for `length`, each expecting `expected`, and times them
/// concurrently so a slow answer does not delay the next request.
pub async fn measure<F, Fut>(
    length: Duration,
    every: Duration,
    expected: u16,
    probe: F,
) -> Latencies
where
    F: Fn(u64) -> Fut,
    Fut: Future<Output = Option<u16>> + Send + 'static,
{
    let start = Instant::now();
    let mut pending = Vec::new();
    let mut n = 0;
    while start.elapsed() < length {
        let due = Instant::now();
        let answer = probe(n);
        pending.push(tokio::spawn(async move {
            let status = answer.await;
            (status, due.elapsed())
        }));
        n += 1;
        tokio::time::sleep(every).await;
    }
    let mut latencies = Latencies::default();
    for handle in pending {
        match handle.await.expect("probe task") {
            (Some(status), took) if status == expected => {
                latencies.ok_ms.push(took.as_secs_f64() * 1000.0)
            }
            (Some(_), _) => latencies.refused += 1,
            (None, _) => latencies.failed += 1,
        }
    }
    latencies.ok_ms.sort_by(f64::total_cmp);
    latencies
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// A small valid person photo (a JPEG of `width`×`height`) made unique by `n`.
pub fn person_jpeg(n: u64) -> Vec<u8> {
    use image::{ImageFormat, Rgb, RgbImage};
    let mut image = RgbImage::from_pixel(240, 400, Rgb([236, 236, 232]));
    for bit in 0..16 {
        let value = if n >> bit & 1 == 1 { 255 } else { 0 };
        for y in bit * 8..bit * 8 + 8 {
            for x in 0..8 {
                image.put_pixel(x, y, Rgb([value, value, value]));
            }
        }
    }
    for y in 60..360 {
        for x in 80..160 {
            image.put_pixel(x, y, Rgb([190, 140, 110]));
        }
    }
    let mut bytes = std::io::Cursor::new(Vec::new());
    image
        .write_to(&mut bytes, ImageFormat::Jpeg)
        .expect("encode");
    bytes.into_inner()
}

/// A create form: the numbered person photo and a small garment.
pub fn create_form(n: u64) -> reqwest::multipart::Form {
    let part = |bytes: Vec<u8>, name: &str| {
        reqwest::multipart::Part::bytes(bytes)
            .file_name(name.to_owned())
            .mime_str("image/jpeg")
            .expect("media type")
    };
    reqwest::multipart::Form::new()
        .part("person", part(person_jpeg(n), "person.jpg"))
        .part("garment", part(person_jpeg(u64::MAX - n), "garment.jpg"))
        .text("category", "upper")
}
