//! Garment fetches cancelled en masse, each with a URL of its own: the shopper (or attacker)
//! goes away while the garment host is still slow to answer. Every fetch used to leave its
//! URL in the fetcher's in-flight map for ever; the map's size and the process's memory after
//! the attack say whether it still does.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tryon_proxy::garment_fetch::{FetchOptions, GarmentFetcher, HostResolver};

/// Fetches started and dropped; with URLs of 2 KB (the cap on every route now; the check
/// route used to take up to its body limit) that is ~40 MB of keys if every one leaks.
const ATTACKS: usize = 20_000;
/// Fetches in flight at once.
const CONCURRENCY: usize = 200;
/// How long each attacker waits before going away.
const PATIENCE: Duration = Duration::from_millis(5);
const URL_BYTES: usize = 2048;

/// A garment host whose name takes long to resolve (a slow or overloaded CDN edge): every
/// fetch is still in flight when its caller goes away.
struct SlowHost;

#[async_trait]
impl HostResolver for SlowHost {
    async fn lookup(&self, _host: &str, _port: u16) -> std::io::Result<Vec<IpAddr>> {
        tokio::time::sleep(Duration::from_secs(2)).await;
        Err(std::io::Error::other("slow host"))
    }
}

pub async fn run() {
    println!(
        "garment_cancel: {ATTACKS} garment fetches with unique {URL_BYTES}-byte URLs, each dropped after {PATIENCE:?}, {CONCURRENCY} at once"
    );
    let options = FetchOptions {
        prefixes: vec!["https://cdn.example/".to_owned()],
        ..FetchOptions::default()
    };
    let fetcher = Arc::new(GarmentFetcher::new(options, Arc::new(SlowHost)).expect("fetcher"));
    let before = super::rss_kib();
    let started = Instant::now();
    let padding = "p".repeat(URL_BYTES - 40);
    let mut next = 0;
    while next < ATTACKS && started.elapsed() < Duration::from_secs(120) {
        let wave: Vec<_> = (next..(next + CONCURRENCY).min(ATTACKS))
            .map(|n| {
                let fetcher = fetcher.clone();
                let url = format!("https://cdn.example/{n:08}/{padding}");
                tokio::spawn(async move {
                    let _ = tokio::time::timeout(PATIENCE, fetcher.fetch(&url)).await;
                })
            })
            .collect();
        next += wave.len();
        for attacker in wave {
            let _ = attacker.await;
        }
    }
    let after = super::rss_kib();
    println!(
        "  {next} fetches dropped in {:.1} s; in-flight map entries left: {}; RSS {} KiB → {} KiB (+{} KiB)",
        started.elapsed().as_secs_f64(),
        fetcher.in_flight_len(),
        before,
        after,
        after.saturating_sub(before)
    );
}
